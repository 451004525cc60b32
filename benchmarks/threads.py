"""Training threads: the default choice against fixed 1 and all threads, quiet and busy.

One process trains the packaged MiniLM for one epoch on generated headlines with
``num_threads`` = 1, = all CPUs, and = None (the default: the cores free now, from /proc/stat
over 0.25 s, :func:`bizmodel.finetune.device.default_threads`; when that is more than one, a
few passes of the model timed at 1 thread and at that many, the faster kept,
:func:`bizmodel.finetune.training.probe_threads`), under three conditions:

- ``quiet``: nothing else started by this script;
- ``busy``: one CPU-bound spinner process beside it for the whole run;
- ``after``: a spinner ran for 70 s and was stopped right before — the 1-minute load average
  still counts it (the rule used before this change would pick ``n - floor(load)``).

For each it prints samples/s (median of ``--repeats``), the threads the default chose, and
what the old load-average rule would have chosen. Run from the repository root on a machine
with nothing else running::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        python benchmarks/threads.py --repeats 3
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def spin() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def train_once(threads: int | None, rows: int) -> tuple[float, int, float]:
    """(samples/s of the optimisation steps, threads used, wall seconds of the whole run)."""
    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import train

    df = financial_headlines(rows, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        res = train(
            df[df["split"] == "train"],
            dev=df[df["split"] != "train"],
            text="headline",
            target="sentiment",
            output=Path(tmp) / "m",
            epochs=1,
            num_threads=threads,
            max_length=48,
            show_progress=False,
        )
    return float(res.samples_per_second), int(res.num_threads or 0), float(res.train_seconds)


def old_rule() -> int:
    n = len(os.sched_getaffinity(0))
    return max(1, n - math.floor(os.getloadavg()[0]))


def condition(name: str, threads: list[int | None], repeats: int, rows: int) -> None:
    for t in threads:
        speeds, picks, walls = [], [], []
        for _ in range(repeats):
            s, c, w = train_once(t, rows)
            speeds.append(s)
            picks.append(c)
            walls.append(w)
        label = "default" if t is None else f"{t} thread(s)"
        print(
            f"{name:>6}  {label:>12}  samples/s median {statistics.median(speeds):6.1f} "
            f"(runs {', '.join(f'{s:.1f}' for s in speeds)})  threads used {picks}  "
            f"run wall s median {statistics.median(walls):.1f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=256)
    args = ap.parse_args()
    n = len(os.sched_getaffinity(0))
    threads: list[Any] = [1, n, None]
    from bizmodel.hardware import cpu_name

    print(f"CPU: {cpu_name()}, {n} CPUs; {time.strftime('%Y-%m-%d %H:%M')}")
    train_once(1, 32)  # warm up imports and caches
    condition("quiet", threads, args.repeats, args.rows)
    p = mp.Process(target=spin, daemon=True)
    p.start()
    try:
        condition("busy", threads, args.repeats, args.rows)
        time.sleep(70)  # let the 1-minute load average count the spinner
    finally:
        p.terminate()
        p.join()
    print(f"after: load average {os.getloadavg()[0]:.2f}, old rule picks {old_rule()} thread(s)")
    condition("after", [None], 1, args.rows)


if __name__ == "__main__":
    main()
