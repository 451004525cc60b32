"""Batch scoring throughput: local ``FineTunedModel.predict`` vs Ray Data (``--backend ray``).

Run:  PYTHONPATH=src nice -n 10 python benchmarks/ray_predict.py [--rows 2000] [--repeats 3]

A tiny full fine-tune of the packaged MiniLM (48 generated headlines, 1 epoch, max_length 32)
scores ``--rows`` generated (company, headline) pairs. Measured in one process, medians of
``--repeats`` runs:

* ``local``: one process, ``torch`` threads = ``--workers``, model loaded beforehand;
* ``local_1thread``: the same with one thread: the per-worker throughput r1;
* ``ray``: :func:`bizmodel.scale.predict.score_rows` with ``--workers`` actors (one CPU
  each) on a local Ray started once beforehand: end to end, actor start-up and model load
  included (each call starts its own actor pool, as ``bizmodel predict --backend ray`` does);
* ``ray_identity``: the same Ray Data pipeline with a function that returns its input: the
  cost of shipping the text blocks to workers and the outputs back (serialisation and
  scheduling), without the model;
* ``actor_start``: a pool of ``--workers`` actors that load the model and score one row.

It prints a JSON line with the medians, rows/s and the scaling estimate
``T(n, N) = actor_start + n / (N * c * r1) + n * s`` for N machines with c cores each, where
``s`` is the per-row driver-side overhead of ``ray_identity``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _identity(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"row": batch["row"], "out": np.zeros(len(batch["row"]), dtype=np.float32)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import pandas as pd
    import ray
    import torch

    from bizmodel.datasets import financial_headlines
    from bizmodel.finetune import load_model, train
    from bizmodel.scale.predict import score_rows

    tmp = Path(tempfile.mkdtemp(prefix="bizmodel-bench-ray-"))
    model_dir = tmp / "model"
    train(
        financial_headlines(48, seed=0), text="company", text_pair="headline",
        target="sentiment", split_column="split", output=model_dir, epochs=1, batch_size=8,
        max_length=32, show_progress=False, num_threads=1,
    )  # fmt: skip
    rows = financial_headlines(args.rows, seed=7)
    texts, pairs = rows["company"].astype(str).tolist(), rows["headline"].astype(str).tolist()
    model = load_model(model_dir)

    def local(threads: int) -> Callable[[], Any]:
        def run() -> Any:
            torch.set_num_threads(threads)
            return model.predict(texts, pairs)

        return run

    t_local = _median_time(local(args.workers), args.repeats)
    t_local1 = _median_time(local(1), args.repeats)
    reference = model.predict(texts, pairs)

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    t_ray_init = time.perf_counter() - t0
    try:
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False
        out = score_rows(model_dir, texts, pairs, workers=args.workers, batch_size=args.batch_size)
        max_diff = float(np.abs(out - reference).max())
        t_ray = _median_time(
            lambda: score_rows(
                model_dir, texts, pairs, workers=args.workers, batch_size=args.batch_size
            ),
            args.repeats,
        )
        t_start = _median_time(
            lambda: score_rows(model_dir, texts[:1], pairs[:1], workers=args.workers),
            args.repeats,
        )

        def identity() -> None:
            frame = pd.DataFrame({"row": np.arange(len(texts)), "text": texts, "pair": pairs})
            bs = args.batch_size
            blocks = [frame.iloc[i : i + bs] for i in range(0, len(frame), bs)]
            ds = ray.data.from_pandas(blocks).map_batches(
                _identity, batch_size=bs, batch_format="numpy"
            )
            for _ in ds.iter_batches(batch_size=None, batch_format="numpy"):
                pass

        t_identity = _median_time(identity, args.repeats)
    finally:
        ray.shutdown()

    n = args.rows
    r1 = n / t_local1
    s = t_identity / n
    estimate = {}
    big, cores = 1_000_000, 2
    for machines in (1, 2, 4, 8, 16):
        t = t_start + big / (machines * cores * r1) + big * s
        estimate[f"{machines}x{cores}cores_1M_rows_s"] = round(t, 1)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": n,
        "workers": args.workers,
        "repeats": args.repeats,
        "load_1min": os.getloadavg()[0],
        "local_s": round(t_local, 3),
        "local_1thread_s": round(t_local1, 3),
        "ray_s": round(t_ray, 3),
        "ray_identity_s": round(t_identity, 3),
        "actor_start_s": round(t_start, 3),
        "ray_init_s": round(t_ray_init, 3),
        "local_rows_per_s": round(n / t_local, 1),
        "ray_rows_per_s": round(n / t_ray, 1),
        "per_worker_rows_per_s": round(r1, 1),
        "ray_over_local_time": round(t_ray / t_local, 2),
        "ray_minus_start_over_local": round((t_ray - t_start) / t_local, 2),
        "overhead_ms_per_1k_rows": round(s * 1000 * 1000, 1),
        "max_abs_diff_vs_local": max_diff,
        "scaling_estimate": estimate,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
