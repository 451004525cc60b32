"""Training speed: a plain Hugging Face ``Trainer`` script vs ``bizmodel.finetune.train``.

Same model (the packaged all-MiniLM-L6-v2, or ``--model``), same data (SemEval-2017 Task 5
headlines, official ``train`` split, (company, title) pair, dev = the same seeded 10% of
train for both), same hyper-parameters (epochs, lr, batch size, warm-up ratio, weight decay,
max_length, seed, threads), in ONE process, runs interleaved (Trainer, bizmodel, Trainer,
...) so that load on the shared machine hits both alike.

(a) the reference: ``AutoModelForSequenceClassification(num_labels=1)`` (regression, MSE),
    ``DataCollatorWithPadding`` (dynamic padding), ``Trainer`` with no evaluation or saving
    during training; samples/s = epochs * n_train / ``train_runtime``.
(b) bizmodel: ``train(...)`` with its defaults for everything not listed above; samples/s is
    its ``samples_per_second`` (optimisation steps only, like the Trainer's number), and the
    total wall time of each call is printed as well.

Dev metrics: weighted cosine and Pearson on the dev rows (Trainer: the final model;
bizmodel: its restored best epoch, which is what it ships).

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        nice -n 10 python benchmarks/train_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = Path(
    os.environ.get(
        "SEMEVAL_HEADLINES",
        Path(__file__).resolve().parents[1].parent.parent
        / "shared/data/semeval2017-task5/normalized/headlines.csv",
    )
)
if not DATA.exists():
    DATA = Path("/work/shared/data/semeval2017-task5/normalized/headlines.csv")


def load_frame() -> pd.DataFrame:
    """Train rows split into train/dev (seeded 10%), as one frame with a ``split`` column."""
    df = pd.read_csv(DATA, keep_default_na=False)
    tr = df[df["split"] == "train"].copy()
    tr["split"] = "train"
    tr.loc[tr.sample(frac=0.1, random_state=1234).index, "split"] = "dev"
    return tr.reset_index(drop=True)


def dev_scores(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr

    from bizmodel.finetune.metrics import weighted_cosine

    return {
        "weighted_cosine": round(float(weighted_cosine(gold, pred)), 4),
        "pearson": round(float(pearsonr(gold, pred)[0]), 4),
    }


def run_trainer(df: pd.DataFrame, hp: dict, seed: int) -> dict:
    """The reference: a plain Trainer script, as a user would write it (hf_script.py)."""
    from hf_script import run_trainer_script

    dev = df[df["split"] == "dev"]
    run = run_trainer_script(
        df[df["split"] == "train"],
        dev,
        model=hp["model"],
        epochs=hp["epochs"],
        lr=hp["lr"],
        batch_size=hp["batch_size"],
        max_length=hp["max_length"],
        warmup_ratio=hp["warmup_ratio"],
        weight_decay=hp["weight_decay"],
        seed=seed,
    )
    return {
        "samples_per_s": round(run.samples_per_s, 2),
        "train_wall_s": round(run.wall_s, 1),
        "samples_per_cpu_s": round(run.samples_per_cpu_s, 2),
        "dev": dev_scores(dev["score"].to_numpy(float), run.predictions),
    }


def run_bizmodel(df: pd.DataFrame, hp: dict, seed: int, extra: dict) -> dict:
    from bizmodel.finetune import train

    cpu_at: list[float] = []  # process CPU time at the first and the latest optimiser step

    def on_step(step: int, loss: float) -> None:
        now = time.process_time()
        cpu_at[1:] = [now]
        if len(cpu_at) == 1:
            cpu_at.insert(0, now)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = train(
            df,
            text="company",
            text_pair="title",
            target="score",
            split_column="split",
            output=os.path.join(tmp, "m"),
            model=hp["model"],
            epochs=hp["epochs"],
            lr=hp["lr"],
            batch_size=hp["batch_size"],
            max_length=hp["max_length"],
            seed=seed,
            warmup_ratio=hp["warmup_ratio"],
            weight_decay=hp["weight_decay"],
            num_threads=hp["threads"],
            show_progress=False,
            on_step=on_step,
            **extra,
        )
        wall = time.perf_counter() - t0
    n_steps_timed = -(-r.n_train // hp["batch_size"]) * r.epochs_run - 1  # first step untimed
    per_sample = (cpu_at[-1] - cpu_at[0]) / (n_steps_timed * hp["batch_size"])
    return {
        "samples_per_s": round(r.samples_per_second, 2),
        # CPU from the end of step 1 to the end of the last step (dev evaluations and
        # checkpoints in between included: slightly against bizmodel)
        "samples_per_cpu_s": round(1.0 / per_sample, 2),
        "call_wall_s": round(wall, 1),
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "dev": {
            "weighted_cosine": round(r.dev_metrics["weighted_cosine"], 4),
            "pearson": round(r.dev_metrics["pearson"], 4),
        },
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--model", default="packaged", help="base model of both sides (a local folder or id)"
    )
    ap.add_argument(
        "--bizmodel-options",
        default="{}",
        help="JSON of extra TrainConfig fields for bizmodel, e.g. '{\"patience\": 10}'",
    )
    ap.add_argument("--limit", type=int, default=0, help="use only N rows (smoke test)")
    ap.add_argument("--only", choices=["trainer", "bizmodel"], default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    hp = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "warmup_ratio": args.warmup_ratio,
        "weight_decay": args.weight_decay,
        "threads": args.threads,
        "model": args.model,
    }
    extra = json.loads(args.bizmodel_options)
    df = load_frame()
    if args.limit:
        df = df.head(args.limit)
    print(json.dumps({"hyper_parameters": hp, "bizmodel_options": extra, "data": str(DATA)}))
    runs: dict[str, list[dict]] = {"trainer": [], "bizmodel": []}
    for i in range(args.repeats):
        for name in ("trainer", "bizmodel"):
            if args.only and name != args.only:
                continue
            if name == "trainer":
                res = run_trainer(df, hp, args.seed)
            else:
                res = run_bizmodel(df, hp, args.seed, extra)
            runs[name].append(res)
            print(json.dumps({"run": i, "who": name, **res}), flush=True)
    summary: dict = {}
    for name, rs in runs.items():
        if rs:
            summary[name] = {
                "median_samples_per_s": statistics.median(r["samples_per_s"] for r in rs),
                "median_samples_per_cpu_s": statistics.median(r["samples_per_cpu_s"] for r in rs),
                "dev_weighted_cosine": [r["dev"]["weighted_cosine"] for r in rs],
                "n_runs": len(rs),
            }
    if runs["trainer"] and runs["bizmodel"]:
        summary["ratio_bizmodel_over_trainer"] = round(
            summary["bizmodel"]["median_samples_per_s"]
            / summary["trainer"]["median_samples_per_s"],
            2,
        )
        summary["ratio_per_cpu_s"] = round(
            summary["bizmodel"]["median_samples_per_cpu_s"]
            / summary["trainer"]["median_samples_per_cpu_s"],
            2,
        )
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
