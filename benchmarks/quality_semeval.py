"""Quality of bizmodel.finetune's defaults: full vs LoRA vs AdaLoRA vs frozen, plus STS-B.

Each job trains with ``bizmodel.finetune.train`` and only the method (and seed) changed from
the library defaults, then records dev/test metrics, epochs and cost:

- ``headlines``: SemEval-2017 Task 5 subtask 2, text = company, text_pair = title, train on
  ``train`` (dev = bizmodel's seeded 10% of it; the 14 ``trial`` rows are dropped so they do
  not become a 14-row dev set), official weighted cosine on ``test``.
- ``microblogs``: subtask 1, text = cashtag, text_pair = spans_text, same protocol.
- ``headlines+microblogs``: multi-task — both subtasks' train rows (cashtag and span text in
  the company and title columns), tested on the headlines test set.
- ``stsb``: STS Benchmark, sentence1/sentence2, train/dev/test as released (read with CSV
  quoting off, see ../shared/data/stsb/SOURCE.md), Pearson on test. Zero-shot all-MiniLM-L6-v2
  (cosine of mean-pooled embeddings) is 0.827 (MTEB); ``--zero-shot`` recomputes it here.

Results go, one JSON line per job, to ``--log`` (jobs already there are skipped, so an
interrupted run continues where it stopped); ``--table`` prints the summary of the log.

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        nice -n 10 python benchmarks/quality_semeval.py \
        --jobs headlines:full:0,headlines:lora:0,headlines:frozen:0 --log results.jsonl
    python benchmarks/quality_semeval.py --table --log results.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(os.environ.get("BIZMODEL_SHARED_DATA", "/work/shared/data"))
if not SHARED.exists():
    SHARED = Path(__file__).resolve().parents[1].parent.parent / "shared" / "data"


def load(dataset: str) -> tuple[pd.DataFrame, dict]:
    """A frame with a ``split`` column and the column roles for ``train``."""
    if dataset == "headlines":
        df = pd.read_csv(
            SHARED / "semeval2017-task5/normalized/headlines.csv", keep_default_na=False
        )
        df = df[df["split"].isin(["train", "test"])]
        return df, {"text": "company", "text_pair": "title", "target": "score"}
    if dataset == "microblogs":
        df = pd.read_csv(
            SHARED / "semeval2017-task5/normalized/microblogs.csv",
            keep_default_na=False,
            dtype={"spans_text": str},
        )
        df = df[df["split"].isin(["train", "test"])]
        return df, {"text": "cashtag", "text_pair": "spans_text", "target": "score"}
    if dataset == "headlines+microblogs":  # multi-task: both train sets, headlines test
        hl, _ = load("headlines")
        mb, _ = load("microblogs")
        mb = mb[mb["split"] == "train"]
        mb = mb.rename(columns={"cashtag": "company", "spans_text": "title"})
        both = pd.concat([hl, mb[["company", "title", "score", "split"]]], ignore_index=True)
        return both, {"text": "company", "text_pair": "title", "target": "score"}
    if dataset == "stsb":
        parts = []
        for split, name in (
            ("train", "sts-train.csv"),
            ("dev", "sts-dev.csv"),
            ("test", "sts-test.csv"),
        ):
            d = pd.read_csv(
                SHARED / "stsb" / name,
                sep="\t",
                header=None,
                quoting=csv.QUOTE_NONE,
                usecols=range(7),
                names=["genre", "filename", "year", "id", "score", "sentence1", "sentence2"],
                keep_default_na=False,
                dtype={"sentence1": str, "sentence2": str},
            )
            parts.append(d.assign(split=split))
        df = pd.concat(parts, ignore_index=True)
        df["score"] = df["score"].astype(float)
        return df, {"text": "sentence1", "text_pair": "sentence2", "target": "score"}
    raise ValueError(
        f"unknown dataset {dataset!r}; valid: headlines, microblogs, headlines+microblogs, stsb"
    )


def zero_shot_stsb() -> dict:
    """Cosine of mean-pooled MiniLM embeddings on STS-B test (the 0.827 reference)."""
    import torch
    from scipy.stats import pearsonr, spearmanr

    from bizmodel.pretrained import load_encoder, load_tokenizer

    df, _ = load("stsb")
    te = df[df["split"] == "test"]
    tok, enc = load_tokenizer("packaged"), load_encoder("packaged").eval()

    def embed(texts: list[str]) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                x = tok(
                    texts[i : i + 64],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                h = enc(**x).last_hidden_state
                m = x["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1))
        return torch.cat(out)

    a, b = embed(list(te["sentence1"])), embed(list(te["sentence2"]))
    cos = (a * b).sum(-1).numpy()
    gold = te["score"].to_numpy(float)
    return {
        "pearson": round(float(pearsonr(gold, cos)[0]), 4),
        "spearman": round(float(spearmanr(gold, cos)[0]), 4),
    }


def _preds_file(folder: Path, dataset: str, method: str, seed: int, options: dict) -> Path:
    import hashlib

    tag = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return folder / f"{dataset}_{method}_{tag}_seed{seed}.npy"


def run_job(
    dataset: str, method: str, seed: int, options: dict, save_preds: Path | None = None
) -> dict:
    from bizmodel.finetune import load_model, train

    df, cols = load(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = train(
            df,
            **cols,
            split_column="split",
            output=os.path.join(tmp, "m"),
            method=method,
            seed=seed,
            show_progress=False,
            **options,
        )
        wall = time.perf_counter() - t0
        if save_preds is not None:  # test predictions, for seed ensembles (--table)
            te = df[df["split"] == "test"]
            m = load_model(os.path.join(tmp, "m"))
            pred = m.predict(list(te[cols["text"]]), list(te[cols["text_pair"]]))
            save_preds.mkdir(parents=True, exist_ok=True)
            np.save(_preds_file(save_preds, dataset, method, seed, options), np.asarray(pred))
    keep = ("weighted_cosine", "pearson", "spearman", "mse", "r2")
    return {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "options": options,
        "dev": {k: round(float(r.dev_metrics[k]), 4) for k in keep},
        "test": {k: round(float((r.test_metrics or {})[k]), 4) for k in keep},
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "history": r.history,
        "samples_per_s": round(r.samples_per_second, 1),
        "cpu_s": round(r.cpu_seconds, 1),
        "wall_s": round(wall, 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def table(log: Path) -> str:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "dataset" in r:
            key = (r["dataset"], r["method"], json.dumps(r.get("options", {}), sort_keys=True))
            groups.setdefault(key, []).append(r)
    out = [
        "| data | method | options | seeds | test metric (per seed) | test mean | dev mean"
        " | epochs (best/run) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (ds, m, opts), rs in sorted(groups.items()):
        metric = "pearson" if ds == "stsb" else "weighted_cosine"
        t = [r["test"][metric] for r in rs]
        d = [r["dev"][metric] for r in rs]
        ep = " ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in rs)
        out.append(
            f"| {ds} | {m} | {opts} | {','.join(str(r['seed']) for r in rs)} | {metric} "
            f"{', '.join(f'{v:.4f}' for v in t)} | {np.mean(t):.4f} | {np.mean(d):.4f} | {ep} |"
        )
    for r in rows:
        if "zero_shot_stsb" in r:
            out.append(
                f"\nzero-shot STS-B test (cosine of mean-pooled embeddings): {r['zero_shot_stsb']}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--jobs",
        default="headlines:full:0,headlines:lora:0,headlines:adalora:0,headlines:frozen:0",
        help="comma-separated dataset:method:seed",
    )
    ap.add_argument(
        "--options", default="{}", help="JSON of extra TrainConfig fields for every job"
    )
    ap.add_argument("--zero-shot", action="store_true", help="also compute zero-shot STS-B test")
    ap.add_argument("--log", default="benchmarks/results/quality_semeval.jsonl")
    ap.add_argument("--table", action="store_true", help="only print the summary of --log")
    ap.add_argument(
        "--save-preds",
        type=Path,
        default=None,
        help="folder for each job's test predictions; --table then adds seed-ensemble scores",
    )
    args = ap.parse_args(argv)
    log = Path(args.log)
    if args.table:
        print(table(log))
        if args.save_preds is not None:
            print(ensembles(args.save_preds))
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            if "dataset" in r:
                done.add(
                    (r["dataset"], r["method"], r["seed"], json.dumps(r["options"], sort_keys=True))
                )
    options = json.loads(args.options)
    if args.zero_shot:
        rec = {"zero_shot_stsb": zero_shot_stsb()}
        print(json.dumps(rec), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(rec) + "\n")
    for job in args.jobs.split(","):
        ds, method, seed = job.split(":")
        key = (ds, method, int(seed), json.dumps(options, sort_keys=True))
        if key in done:
            print(f"skip {job} (already in {log})")
            continue
        rec = run_job(ds, method, int(seed), options, args.save_preds)
        print(json.dumps(rec), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(rec) + "\n")
    print(table(log))
    if args.save_preds is not None:
        print(ensembles(args.save_preds))


def ensembles(folder: Path) -> str:
    """Weighted cosine of the mean test prediction of all saved seeds of each configuration."""
    from bizmodel.finetune.metrics import regression_metrics

    groups: dict[str, list[Path]] = {}
    for f in sorted(folder.glob("*_seed*.npy")):
        groups.setdefault(f.name.rsplit("_seed", 1)[0], []).append(f)
    lines = [
        "| configuration | seeds | single-model test (each) | ensemble test |",
        "|---|---|---|---|",
    ]
    for key, files in groups.items():
        dataset = key.split("_", 1)[0]
        df, cols = load(dataset)
        gold = df[df["split"] == "test"][cols["target"]].to_numpy(float)
        preds = [np.load(f).reshape(-1) for f in files]
        each = [regression_metrics(gold, p)["weighted_cosine"] for p in preds]
        ens = regression_metrics(gold, np.mean(preds, axis=0))["weighted_cosine"]
        singles = ", ".join(f"{v:.4f}" for v in each)
        lines.append(f"| {key} | {len(files)} | {singles} (mean {np.mean(each):.4f}) | {ens:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
