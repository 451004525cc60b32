"""Robustness drop with and without ``--augment`` on SemEval-2017 Task 5 headlines.

Trains the packaged MiniLM (full fine-tune, bizmodel defaults otherwise) on (company, title)
of the official train split (dev = seeded 10% of it), once without augmentation and once with
``--augment N``, then scores each model on the official test split clean and under every
perturbation of :mod:`bizmodel.responsible.perturb` (weighted cosine, SemEval's metric; the
drop is clean minus perturbed, positive = worse). Prints one JSON line per (model,
perturbation) and a Markdown table. Run from the repository root:

    PYTHONPATH=src HF_HUB_OFFLINE=1 nice -n 10 python benchmarks/robustness_semeval.py \
        --augment 2 --epochs 3 --seed 0 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import pandas as pd

from bizmodel.finetune import train
from bizmodel.responsible import robustness


def _find_data() -> str:
    # shared/ sits next to the checkout (main) or two levels up (a worktree under wt/).
    here = os.path.dirname(os.path.abspath(__file__))
    rel = os.path.join("shared", "data", "semeval2017-task5", "normalized", "headlines.csv")
    for up in ("..", os.path.join("..", ".."), os.path.join("..", "..", "..")):
        path = os.path.normpath(os.path.join(here, up, rel))
        if os.path.exists(path):
            return path
    return rel


DATA = _find_data()


def load(path: str, limit: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(path)
    tr, te = df[df["split"] == "train"], df[df["split"] == "test"]
    if limit:
        tr, te = tr.head(limit), te.head(limit)
    data = tr.assign(split="train")
    data.loc[tr.sample(frac=0.1, random_state=1234).index, "split"] = "dev"
    return data, te.drop(columns="split").reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--augment", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N rows per split (smoke run)")
    args = ap.parse_args()
    data, test = load(args.data, args.limit)
    rows = []
    for n in (0, args.augment):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m")
            t = time.perf_counter()
            r = train(data, text="company", text_pair="title", target="score",
                      split_column="split", output=out, seed=args.seed, epochs=args.epochs,
                      augment=n, show_progress=False, num_threads=args.threads)  # fmt: skip
            train_s = time.perf_counter() - t
            rob = robustness(out, test, metric="weighted_cosine", seed=args.seed)
        for p in [None, *rob.perturbations]:
            row = {
                "augment": n, "n_train": r.n_train, "train_s": round(train_s, 1),
                "dev_wcos": round(r.dev_metrics["weighted_cosine"], 4),
                "perturbation": p.kind if p else "clean",
                "test_wcos": round(p.value if p else rob.clean, 4),
                "drop": round(p.drop, 4) if p else 0.0,
                "mean_abs_change": round(p.prediction_change, 4) if p else 0.0,
                "changed": p.changed if p else 0,
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    a, b = 0, args.augment
    print(f"\n| perturbation | test wcos (augment {a}) | drop | test wcos (augment {b}) | drop |")
    print("|---|---|---|---|---|")
    by = {(r["augment"], r["perturbation"]): r for r in rows}
    for kind in dict.fromkeys(r["perturbation"] for r in rows):
        x, y = by[(a, kind)], by[(b, kind)]
        print(f"| {kind} | {x['test_wcos']:.4f} | {x['drop']:+.4f} "
              f"| {y['test_wcos']:.4f} | {y['drop']:+.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
