"""Defaults without dev data: old (10% held out) vs new (CV, then all rows) vs a plain script.

On a data set's official ``train`` rows only (no dev or trial rows, so that nobody gets dev
rows), scored on its official ``test`` rows with its task's metric (:data:`METRIC`) —
SemEval-2017 Task 5 headlines (company, title → score; weighted cosine), microblogs (cashtag,
span text; weighted cosine), the STS Benchmark (``stsb``: sentence pair → 0-5; Pearson) or
``headlines3`` (the headlines binned at ±0.1 into negative / neutral / positive; macro-F1) —
for each seed, in ONE process:

- ``trainer``: the plain Hugging Face script of issue 16 — ``AutoModelForSequenceClassification
  (num_labels=1)``, all train rows, 4 epochs, lr 5e-5, batch 16, ``DataCollatorWithPadding``,
  ``Trainer`` defaults otherwise (no warm-up, no weight decay), no dev;
- ``old``: ``bizmodel.finetune.train`` with ``schedule="holdout"`` (the default before: a
  seeded 10% of train held out, early stopping, best epoch restored);
- ``new``: ``bizmodel.finetune.train`` with its defaults (``schedule="cv"``);
- ``fixed``: ``schedule="fixed"``: all rows, the default 6 epochs, nothing chosen (does the
  cross-validated choice matter, or only training on every row?);
- ``lora``: as ``fixed`` with ``method="lora"`` (its defaults: r 16, alpha 32, lr 5e-4, the
  architecture's attention and feed-forward projections), against ``fixed`` full fine-tuning.

``--model DIR`` gives both sides another encoder (e.g. all-mpnet-base-v2 from
``../shared/models/fetch-all-mpnet-base-v2``); ``--dataset`` picks the data set. One JSON
line per (who, seed) goes to ``--log`` (lines already there are skipped, so an interrupted
run continues); ``--table`` prints the summary.

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        nice -n 10 python benchmarks/schedule_semeval.py --seeds 0 --threads 1 \\
        --log benchmarks/results/schedule_semeval.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

SHARED = Path(os.environ.get("BIZMODEL_SHARED_DATA", "/work/shared/data"))
if not SHARED.exists():
    SHARED = Path(__file__).resolve().parents[1].parent.parent / "shared" / "data"
WHO = ("trainer", "old", "new", "fixed", "lora")
SCHEDULE = {"old": "holdout", "new": "cv", "fixed": "fixed", "lora": "fixed"}
METHOD = {"lora": "lora"}  # the rest: full fine-tuning


DATASETS = ("headlines", "microblogs", "stsb", "headlines3")
# the test metric each data set is judged on (its task's official one)
METRIC = {
    "headlines": "weighted_cosine",
    "microblogs": "weighted_cosine",
    "stsb": "pearson",
    "headlines3": "macro_f1",
}
CLASSES = ["negative", "neutral", "positive"]  # headlines3: score < -0.1, within ±0.1, > 0.1


def load(dataset: str = "headlines") -> pd.DataFrame:
    """Official train and test rows of a data set as ``company``/``title``/``score``:
    SemEval-2017 Task 5 headlines (company, title) or microblogs (cashtag, span text);
    ``stsb`` the STS Benchmark (sentence1, sentence2; its dev rows dropped, as nobody gets dev
    rows); ``headlines3`` the headlines with the score binned at ±0.1 into negative / neutral /
    positive (a 3-class classification set: 405 / 154 / 583 train rows)."""
    if dataset == "stsb":
        df = pd.read_csv(SHARED / "stsb/normalized/stsb.csv", keep_default_na=False, dtype=str)
        df = df.rename(columns={"sentence1": "company", "sentence2": "title"})
    else:
        base = "headlines" if dataset == "headlines3" else dataset
        path = SHARED / f"semeval2017-task5/normalized/{base}.csv"
        df = pd.read_csv(path, keep_default_na=False, dtype=str)
    if dataset == "microblogs":
        df = df.rename(columns={"cashtag": "company", "spans_text": "title"})
    df["score"] = df["score"].astype(float)
    if dataset == "headlines3":
        df["score"] = np.select(
            [df["score"] < -0.1, df["score"] > 0.1], [CLASSES[0], CLASSES[2]], CLASSES[1]
        )
    return df[df["split"].isin(["train", "test"])].reset_index(drop=True)


def test_metric(dataset: str, gold: np.ndarray, pred: np.ndarray) -> float:
    """The data set's test metric (:data:`METRIC`) of ``pred`` against ``gold``; for
    ``headlines3`` both are class names."""
    from bizmodel.finetune.metrics import classification_metrics, regression_metrics

    if dataset == "headlines3":
        code = {c: i for i, c in enumerate(CLASSES)}
        m = classification_metrics([code[g] for g in gold], [code[p] for p in pred], CLASSES)
    else:
        m = regression_metrics(gold.astype(float), pred.astype(float))
    return round(float(m[METRIC[dataset]]), 4)


def run_trainer(
    df: pd.DataFrame,
    seed: int,
    threads: int,
    model_id: str = "packaged",
    dataset: str = "headlines",
) -> dict:
    import torch
    from hf_script import run_trainer_script

    torch.set_num_threads(threads)
    test = df[df["split"] == "test"]
    labels = CLASSES if dataset == "headlines3" else None
    run = run_trainer_script(
        df[df["split"] == "train"], test, model=model_id, seed=seed, labels=labels
    )
    pred = np.asarray(CLASSES)[run.predictions.astype(int)] if labels else run.predictions
    return {"test": test_metric(dataset, test["score"].to_numpy(), pred), "epochs": 4}


def run_bizmodel(
    df: pd.DataFrame,
    seed: int,
    threads: int,
    schedule: str,
    model_id: str = "packaged",
    method: str = "full",
    options: dict | None = None,
    dataset: str = "headlines",
) -> dict:
    from bizmodel.finetune import train

    with tempfile.TemporaryDirectory() as tmp:
        r = train(
            df,
            text="company",
            text_pair="title",
            target="score",
            split_column="split",
            output=os.path.join(tmp, "m"),
            seed=seed,
            num_threads=threads,
            show_progress=False,
            schedule=schedule,
            model=model_id,
            method=method,
            **(options or {}),
        )
    sel = r.schedule_selection
    return {
        "test": round(float((r.test_metrics or {})[METRIC[dataset]]), 4),
        "n_train": r.n_train,
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "schedule_selection": sel.to_dict() if sel is not None else None,
        "history": r.history,
    }


def table(log: Path) -> str:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out = [
        "| who | seeds | test metric (per seed) | mean | wall s (per seed) | "
        "CPU-s (per seed) | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for who in WHO:
        rs = sorted((r for r in rows if r["who"] == who), key=lambda r: r["seed"])
        if not rs:
            continue
        t = [r["test"] for r in rs]
        out.append(
            f"| {who} | {','.join(str(r['seed']) for r in rs)} | "
            f"{', '.join(f'{v:.4f}' for v in t)} | {np.mean(t):.4f} | "
            f"{', '.join(str(round(r['wall_s'])) for r in rs)} | "
            f"{', '.join(str(round(r['cpu_s'])) for r in rs)} | "
            f"{', '.join(str(r.get('best_epoch', r.get('epochs'))) for r in rs)} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--who", default="trainer,old,new")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", type=Path, default=Path("benchmarks/results/schedule_semeval.jsonl"))
    ap.add_argument(
        "--model", default="packaged", help="base model of both sides (a local folder or id)"
    )
    ap.add_argument("--dataset", choices=DATASETS, default="headlines")
    ap.add_argument(
        "--options",
        type=json.loads,
        default=None,
        help='bizmodel train options, JSON ({"pooling": "mean"})',
    )
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.log))
        return
    done = set()
    if args.log.exists():
        done = {(r["who"], r["seed"]) for r in map(json.loads, args.log.read_text().splitlines())}
    df = load(args.dataset)
    for seed in map(int, args.seeds.split(",")):
        for who in args.who.split(","):
            if (who, seed) in done:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            if who == "trainer":
                rec = run_trainer(df, seed, args.threads, args.model, args.dataset)
            else:
                rec = run_bizmodel(
                    df,
                    seed,
                    args.threads,
                    SCHEDULE[who],
                    args.model,
                    METHOD.get(who, "full"),
                    args.options,
                    args.dataset,
                )
            rec = {
                "who": who,
                "seed": seed,
                **rec,
                "wall_s": round(time.perf_counter() - t0, 1),
                "cpu_s": round(time.process_time() - c0, 1),
                "threads": args.threads,
                "model": args.model,
                "dataset": args.dataset,
                "metric": METRIC[args.dataset],
                "options": args.options,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            print(json.dumps(rec), flush=True)
            args.log.parent.mkdir(parents=True, exist_ok=True)
            with args.log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
    print(table(args.log))


if __name__ == "__main__":
    main()
