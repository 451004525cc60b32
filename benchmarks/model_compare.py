"""MiniLM vs a stronger encoder side by side: size, training speed, inference cost, quality.

For each ``--models`` entry (``packaged`` = all-MiniLM-L6-v2, or a local folder such as the
all-mpnet-base-v2 that ``../shared/models/fetch-all-mpnet-base-v2 DIR`` rebuilds), in ONE
process:

- ``params``: parameters of the fine-tuned model (encoder + head);
- training speed: ``bizmodel.finetune.train`` for 1 epoch (``schedule="fixed"``) on the first
  ``--rows`` SemEval-2017 headline training rows at ``--threads`` threads; reported as the
  run's own ``samples_per_second`` (optimisation steps only) and as training samples per
  CPU-second (robust to other jobs on a shared machine: CPU time, not wall time);
- inference cost: :func:`bizmodel.inference.cost.measure_model_dir` — the median CPU-seconds
  per 1,000 predictions at the best batch size over 5 timed passes at 1 thread (what
  ``bizmodel register`` records), and USD per 1,000 at ``--cpu-usd-per-hour`` (the
  ``[server] cpu_usd_per_hour`` default);
- quality: the mean test weighted cosine over the logged seeds on SemEval headlines, of the
  defaults (``new``) and of 6 epochs on all rows (``fixed``), read from the logs
  ``benchmarks/schedule_semeval.py`` writes (``--quality-log``, one or more; rows whose
  ``model`` is this model; MiniLM's rows predate the ``model`` field).

The model-choice lever of the optimiser (``small``/``large``) can take these measured numbers
instead of assumptions.

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        nice -n 5 python benchmarks/model_compare.py \\
        --models packaged,/work/models/all-mpnet-base-v2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

SHARED = Path(os.environ.get("BIZMODEL_SHARED_DATA", "/work/shared/data"))
if not SHARED.exists():
    SHARED = Path(__file__).resolve().parents[1].parent.parent / "shared" / "data"
LOGS = (
    "benchmarks/results/schedule_semeval.jsonl",
    "benchmarks/results/schedule_semeval_fixed.jsonl",
    "benchmarks/results/schedule_semeval_mpnet.jsonl",
)


def train_rows(n: int) -> pd.DataFrame:
    df = pd.read_csv(SHARED / "semeval2017-task5/normalized/headlines.csv", keep_default_na=False)
    return df[df["split"] == "train"].head(n).reset_index(drop=True)


def quality(model: str, logs: list[Path]) -> dict[str, Any]:
    """Mean test weighted cosine over the logged seeds for ``model``: of the defaults
    (``new``: cross-validated epochs) and of ``fixed`` (6 epochs on all rows)."""
    rows = []
    for log in logs:
        if log.exists():
            rows += [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out: dict[str, Any] = {}
    for who in ("new", "fixed"):
        scores = {
            r["seed"]: r["test"]
            for r in rows
            if r["who"] == who
            and r.get("model", "packaged") == model
            and r.get("dataset", "headlines") == "headlines"
        }
        out[f"headlines_{who}"] = round(statistics.fmean(scores.values()), 4) if scores else None
        out[f"seeds_{who}"] = sorted(scores)
    return out


def measure(model: str, rows: int, threads: int, usd_per_hour: float) -> dict[str, Any]:
    import torch

    from bizmodel.finetune import load_model, train
    from bizmodel.inference.cost import measure_model_dir, usd_per_prediction

    df = train_rows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m"
        c0 = time.process_time()
        r = train(
            df,
            text="company",
            text_pair="title",
            target="score",
            output=out,
            model=model,
            epochs=1,
            schedule="fixed",
            num_threads=threads,
            seed=0,
            show_progress=False,
        )
        cpu = time.process_time() - c0
        loaded = load_model(out)
        module: torch.nn.Module = loaded.module
        params = sum(p.numel() for p in module.parameters())
        cost = measure_model_dir(out, n=64)
    cpu_1k = float(cost["cpu_s_per_1k_best"])
    usd = usd_per_prediction(cost, cpu_usd_per_hour=usd_per_hour)
    return {
        "model": model,
        "params_m": round(params / 1e6, 1),
        "train_rows": rows,
        "train_samples_per_s": round(r.samples_per_second, 1),
        "train_samples_per_cpu_s": round(rows / cpu, 2),
        "infer_cpu_s_per_1k": round(cpu_1k, 2),
        "infer_best_batch": cost.get("best_batch_size"),
        "infer_usd_per_1k": None if usd is None else usd * 1000,
        "hardware": cost.get("hardware"),
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="packaged,/work/models/all-mpnet-base-v2")
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu-usd-per-hour", type=float, default=0.04)
    ap.add_argument("--quality-log", action="append", type=Path, default=None)
    args = ap.parse_args(argv)
    logs = args.quality_log or [Path(p) for p in LOGS]
    out = []
    for model in args.models.split(","):
        rec = measure(model, args.rows, args.threads, args.cpu_usd_per_hour)
        rec |= quality(model, logs)
        rec["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(json.dumps(rec), flush=True)
        out.append(rec)
    print(
        "\n| model | params (M) | train samples/s | train samples per CPU-s | "
        "inference CPU-s per 1k | USD per 1k | headlines test w-cos, defaults (seeds) | "
        "same, fixed 6 epochs (seeds) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in out:
        q = [
            f"{'—' if r[f'headlines_{w}'] is None else r[f'headlines_{w}']} "
            f"({','.join(map(str, r[f'seeds_{w}']))})"
            for w in ("new", "fixed")
        ]
        print(
            f"| {Path(r['model']).name} | {r['params_m']} | {r['train_samples_per_s']} | "
            f"{r['train_samples_per_cpu_s']} | {r['infer_cpu_s_per_1k']} | "
            f"{r['infer_usd_per_1k']:.2e} | {q[0]} | {q[1]} |"
        )


if __name__ == "__main__":
    main()
