"""Defaults without dev data: old (10% held out) vs new (CV, then all rows) vs a plain script.

On SemEval-2017 Task 5 headlines (company, title → score; official ``train`` rows only, the
14 ``trial`` rows dropped so that nobody gets dev rows; official weighted cosine on ``test``),
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
``../shared/models/fetch-all-mpnet-base-v2``); ``--dataset microblogs`` the other subtask
(cashtag, span text). One JSON line per (who, seed) goes to ``--log`` (lines already there
are skipped, so an interrupted run continues); ``--table`` prints the summary.

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


def load(dataset: str = "headlines") -> pd.DataFrame:
    """Official train and test rows of a SemEval-2017 Task 5 subtask, as ``company``/``title``/
    ``score`` (microblogs: cashtag and span text)."""
    path = SHARED / f"semeval2017-task5/normalized/{dataset}.csv"
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    if dataset == "microblogs":
        df = df.rename(columns={"cashtag": "company", "spans_text": "title"})
    df["score"] = df["score"].astype(float)
    return df[df["split"].isin(["train", "test"])].reset_index(drop=True)


def test_wcos(gold: np.ndarray, pred: np.ndarray) -> float:
    from bizmodel.finetune.metrics import weighted_cosine

    return round(float(weighted_cosine(gold, pred)), 4)


def run_trainer(df: pd.DataFrame, seed: int, threads: int, model_id: str = "packaged") -> dict:
    import torch
    from hf_script import run_trainer_script

    torch.set_num_threads(threads)
    test = df[df["split"] == "test"]
    run = run_trainer_script(df[df["split"] == "train"], test, model=model_id, seed=seed)
    return {"test": test_wcos(test["score"].to_numpy(float), run.predictions), "epochs": 4}


def run_bizmodel(
    df: pd.DataFrame,
    seed: int,
    threads: int,
    schedule: str,
    model_id: str = "packaged",
    method: str = "full",
    options: dict | None = None,
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
        "test": round(float((r.test_metrics or {})["weighted_cosine"]), 4),
        "n_train": r.n_train,
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "schedule_selection": sel.to_dict() if sel is not None else None,
        "history": r.history,
    }


def table(log: Path) -> str:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out = [
        "| who | seeds | test weighted cosine (per seed) | mean | wall s (per seed) | "
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
    ap.add_argument("--dataset", choices=["headlines", "microblogs"], default="headlines")
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
                rec = run_trainer(df, seed, args.threads, args.model)
            else:
                rec = run_bizmodel(
                    df,
                    seed,
                    args.threads,
                    SCHEDULE[who],
                    args.model,
                    METHOD.get(who, "full"),
                    args.options,
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
