"""Robustness drop with and without ``--augment`` on SemEval-2017 Task 5 headlines.

Trains the packaged MiniLM (full fine-tune, bizmodel defaults otherwise) on (company, title)
of the official train split (dev = seeded 10% of it), once without augmentation and once with
``--augment N``, then scores each model on the official test split clean and under every
perturbation of :mod:`bizmodel.responsible.perturb` (weighted cosine, SemEval's metric; the
drop is clean minus perturbed, positive = worse). Prints one JSON line per (model,
perturbation) and a Markdown table of medians over the seeds. With ``--log FILE.jsonl`` the
rows are appended there and (seed, augment) runs already in the file are skipped, so a long
multi-seed run can be resumed, or summarised alone (``--summary-only``). Run from the
repository root:

    PYTHONPATH=src HF_HUB_OFFLINE=1 nice -n 10 python benchmarks/robustness_semeval.py \
        --augment 2 --epochs 3 --seeds 0,1,2 --threads 2 \
        --log benchmarks/results/robustness_semeval.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def run_one(data: pd.DataFrame, test: pd.DataFrame, n: int, seed: int, args: argparse.Namespace
            ) -> list[dict[str, object]]:  # fmt: skip
    """Train with ``augment=n`` and ``seed``; score clean and perturbed test rows."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m")
        t = time.perf_counter()
        r = train(data, text="company", text_pair="title", target="score",
                  split_column="split", output=out, seed=seed, epochs=args.epochs,
                  augment=n, show_progress=False, num_threads=args.threads)  # fmt: skip
        train_s = time.perf_counter() - t
        rob = robustness(out, test, metric="weighted_cosine", seed=seed)
    for p in [None, *rob.perturbations]:
        rows.append({
            "seed": seed, "augment": n, "n_train": r.n_train, "train_s": round(train_s, 1),
            "dev_wcos": round(r.dev_metrics["weighted_cosine"], 4),
            "perturbation": p.kind if p else "clean",
            "test_wcos": round(p.value if p else rob.clean, 4),
            "drop": round(p.drop, 4) if p else 0.0,
            "mean_abs_change": round(p.prediction_change, 4) if p else 0.0,
            "changed": p.changed if p else 0,
        })  # fmt: skip
    return rows


def summary(rows: list[dict[str, object]], a: int, b: int) -> str:
    """Markdown table: per perturbation, medians over seeds of test wcos and drop."""

    def med(aug: int, kind: str, key: str) -> tuple[float, int]:
        vals = [float(r[key]) for r in rows  # type: ignore[arg-type]
                if r["augment"] == aug and r["perturbation"] == kind]  # fmt: skip
        return (statistics.median(vals) if vals else float("nan")), len(vals)

    seeds = sorted({int(r["seed"]) for r in rows})  # type: ignore[call-overload]
    lines = [f"medians over seeds {seeds}",
             f"| perturbation | test wcos (augment {a}) | drop | test wcos (augment {b}) | drop "
             "| seeds (plain / aug.) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for kind in dict.fromkeys(str(r["perturbation"]) for r in rows):
        (xv, nx), (xd, _) = med(a, kind, "test_wcos"), med(a, kind, "drop")
        (yv, ny), (yd, _) = med(b, kind, "test_wcos"), med(b, kind, "drop")
        lines.append(f"| {kind} | {xv:.4f} | {xd:+.4f} | {yv:.4f} | {yd:+.4f} | {nx} / {ny} |")
    for aug in (a, b):
        dev = [float(r["dev_wcos"]) for r in rows  # type: ignore[arg-type]
               if r["augment"] == aug and r["perturbation"] == "clean"]  # fmt: skip
        if dev:
            lines.append(f"augment {aug}: dev wcos per seed {dev}, median "
                         f"{statistics.median(dev):.4f}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--augment", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N rows per split (smoke run)")
    ap.add_argument("--log", default=None, help="JSONL file: append rows, skip runs in it")
    ap.add_argument("--summary-only", action="store_true", help="only summarise --log")
    args = ap.parse_args()
    seeds = [args.seed] if args.seed is not None else [int(x) for x in args.seeds.split(",")]
    rows: list[dict[str, object]] = []
    if args.log and os.path.exists(args.log):
        with open(args.log, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    if not args.summary_only:
        data, test = load(args.data, args.limit)
        for seed in seeds:
            for n in (0, args.augment):
                if any(r["seed"] == seed and r["augment"] == n for r in rows):
                    continue
                new = run_one(data, test, n, seed, args)
                rows += new
                for row in new:
                    print(json.dumps(row), flush=True)
                if args.log:
                    with open(args.log, "a", encoding="utf-8") as fh:
                        fh.writelines(json.dumps(row) + "\n" for row in new)
    print()
    print(summary([r for r in rows if r["seed"] in seeds], 0, args.augment))


if __name__ == "__main__":
    main()
