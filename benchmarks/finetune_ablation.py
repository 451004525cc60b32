"""Speed knobs of bizmodel.finetune vs the dev/test metric on SemEval-2017 headlines.

Trains the packaged MiniLM on (company, title) of the official train split (dev = seeded 10%
of it) with each variant and prints dev/test weighted cosine and training samples/s, so a
speed knob is kept only if the metric holds. Run from the repository root:

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/finetune_ablation.py \
        --variants default,fp32,train_embeddings --seeds 0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import pandas as pd

from bizmodel.finetune import train

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                    "semeval2017-task5", "normalized", "headlines.csv")  # fmt: skip
VARIANTS: dict[str, dict] = {
    "default": {},
    "fp32": {"precision": "fp32"},
    "train_embeddings": {"freeze_embeddings": False},
    "no_bucketing": {"bucket_pool": 1},
    "pooler": {"pooling": "pooler"},
    "pooler_raw": {"pooling": "pooler", "target_scaling": "none", "freeze_embeddings": False},
    "lora": {"method": "lora"},
    "adalora": {"method": "adalora"},
    "adalora_lr1e-3": {"method": "adalora", "lr": 1e-3},
    "frozen": {"method": "frozen"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--variants", default="default,fp32,train_embeddings")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()
    df = pd.read_csv(args.data)
    tr, te = df[df["split"] == "train"], df[df["split"] == "test"].copy()
    te["split"] = "test"
    data = pd.concat([tr.assign(split="train"), te])
    # dev = seeded 10% of train: mark it so every variant sees the same rows
    dev_idx = tr.sample(frac=0.1, random_state=1234).index
    data.loc[dev_idx, "split"] = "dev"
    for name in args.variants.split(","):
        for seed in map(int, args.seeds.split(",")):
            opts = dict(VARIANTS[name])
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                r = train(data, text="company", text_pair="title", target="score",
                          split_column="split", output=os.path.join(tmp, "m"), seed=seed,
                          show_progress=False, num_threads=args.threads,
                          **({"epochs": args.epochs} if args.epochs else {}), **opts)  # fmt: skip
            row = {
                "variant": name, "seed": seed,
                "dev_wcos": round(r.dev_metrics["weighted_cosine"], 4),
                "test_wcos": round((r.test_metrics or {})["weighted_cosine"], 4),
                "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
                "samples_per_s": round(r.samples_per_second, 1),
                "cpu_s": round(r.cpu_seconds, 1), "wall_s": round(time.perf_counter() - t, 1),
            }  # fmt: skip
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
