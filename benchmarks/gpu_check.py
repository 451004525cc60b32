"""GPU check (issue 19): bizmodel vs plain Hugging Face on one GPU, and the ``gpu`` tests.

Prints, as one JSON line each:

1. ``hardware``: :func:`bizmodel.hardware.describe` of the device (GPU name and memory);
2. ``train``: per model, training samples/s and the dev metric of a plain ``Trainer`` script
   (``AutoModelForSequenceClassification``, dynamic padding, bf16 where the GPU has it, else
   fp16, TF32) and of ``bizmodel.finetune.train(device=...)`` — same model, data (SemEval-2017
   Task 5 headlines, official train split, a seeded 10% dev), epochs, lr, batch size,
   warm-up, weight decay and seed; the target is bizmodel ≥ 1.5× at an equal dev metric;
3. ``inference``: sequences/s of bizmodel's torch runtime on the device (bf16/fp16 autocast)
   vs a ``transformers`` ``pipeline`` on the same device and saved model; target ≥ 3×;
4. ``gpu_tests``: ``pytest -m gpu`` on the device tests, where pytest is installed.

Needs only torch, transformers, peft, numpy, pandas, scipy and the project's source (no
serving stack). Run from the repository root on a machine with a CUDA GPU (under 5 minutes
with the defaults on one H100)::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        python benchmarks/gpu_check.py --models packaged,../shared/models/all-mpnet-base-v2

``--device cpu --limit 64 --epochs 1`` is a smoke test of the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import dev_scores, load_frame  # same data as the CPU benchmark


def emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"check": kind, **fields}), flush=True)


def trainer_run(df: pd.DataFrame, model_name: str, hp: dict, device: Any) -> dict:
    """The reference: the plain Trainer script a user would write for a GPU (hf_script.py)."""
    from hf_script import run_trainer_script

    dev = df[df["split"] == "dev"]
    run = run_trainer_script(
        df[df["split"] == "train"],
        dev,
        model=model_name,
        epochs=hp["epochs"],
        lr=hp["lr"],
        batch_size=hp["batch_size"],
        max_length=hp["max_length"],
        warmup_ratio=hp["warmup_ratio"],
        weight_decay=hp["weight_decay"],
        seed=hp["seed"],
        device=device,
    )
    return {
        "samples_per_s": round(run.samples_per_s, 1),
        "dev": dev_scores(dev["score"].to_numpy(float), run.predictions),
    }


def bizmodel_run(df: pd.DataFrame, model_name: str, hp: dict, device: Any, out: Path) -> dict:
    from bizmodel.finetune import train

    r = train(df, text="company", text_pair="title", target="score", split_column="split",
              output=out, model=model_name, epochs=hp["epochs"], lr=hp["lr"],
              batch_size=hp["batch_size"], max_length=hp["max_length"], seed=hp["seed"],
              warmup_ratio=hp["warmup_ratio"], weight_decay=hp["weight_decay"],
              device=str(device), show_progress=False)  # fmt: skip
    return {
        "samples_per_s": round(r.samples_per_second, 1),
        "dev": {k: round(r.dev_metrics[k], 4) for k in ("weighted_cosine", "pearson")},
        "best_epoch": r.best_epoch,
    }


def inference_run(model_dir: Path, df: pd.DataFrame, device: Any, n: int) -> dict:
    """Sequences/s: bizmodel's torch runtime vs a transformers pipeline, same weights."""
    import torch
    from transformers import pipeline

    from bizmodel.finetune import load_model
    from bizmodel.inference import TorchRuntime

    rows = df.sample(n, replace=len(df) < n, random_state=0)
    texts, pairs = list(rows["company"]), list(rows["title"])
    rt = TorchRuntime(load_model(model_dir, device=str(device)))

    def rate(fn: Any) -> float:
        fn(texts[:64], pairs[:64])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(texts, pairs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return len(texts) / (time.perf_counter() - t0)

    ours = rate(lambda t, p: rt.predict(t, p, batch_size=128))
    result: dict[str, Any] = {"n": n, "bizmodel_torch_seq_per_s": round(ours, 1),
                              "dtype": str(rt.dtype)}  # fmt: skip
    info = json.loads((model_dir / "bizmodel.json").read_text())
    if info.get("model_format") != "sequence-classification":
        result["pipeline"] = "skipped: not a sequence-classification model dir"
        return result
    pipe = pipeline("text-classification", model=str(model_dir / "model"), device=device,
                    function_to_apply="none", truncation=True,
                    max_length=info["max_length"])  # fmt: skip

    def run_pipe(t: list[str], p: list[str]) -> Any:
        return pipe([{"text": a, "text_pair": b} for a, b in zip(t, p, strict=True)],
                    batch_size=128)  # fmt: skip

    theirs = rate(run_pipe)
    result.update(pipeline_seq_per_s=round(theirs, 1), speedup=round(ours / theirs, 2))
    return result


def gpu_tests() -> dict:
    try:
        import pytest  # noqa: F401
    except ImportError:
        return {"status": "skipped: pytest is not installed here"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
         "tests/finetune/test_device_choice.py"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    return {"returncode": proc.returncode, "tail": proc.stdout.strip().splitlines()[-3:]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="packaged", help="comma-separated names or folders")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="use only N rows (smoke test)")
    ap.add_argument("--inference-n", type=int, default=4096)
    ap.add_argument("--no-tests", action="store_true")
    args = ap.parse_args(argv)

    from bizmodel.hardware import describe, resolve_device

    device = resolve_device(args.device)
    emit("hardware", **describe(threads=None, device=device))
    hp = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
          "max_length": args.max_length, "warmup_ratio": 0.1, "weight_decay": 0.01,
          "seed": args.seed}  # fmt: skip
    df = load_frame()
    if args.limit:
        df = df.head(args.limit)
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            ref = trainer_run(df, name, hp, device)
            ours = bizmodel_run(df, name, hp, device, Path(tmp) / "m")
            speedup = round(ours["samples_per_s"] / max(ref["samples_per_s"], 1e-9), 2)
            seconds = round(time.perf_counter() - t0, 1)
            emit("train", model=name, hyper_parameters=hp, n_rows=len(df), trainer=ref,
                 bizmodel=ours, speedup=speedup, seconds=seconds)  # fmt: skip
            n = min(args.inference_n, 64) if args.limit else args.inference_n
            emit("inference", model=name, **inference_run(Path(tmp) / "m", df, device, n))
    if not args.no_tests:
        emit("gpu_tests", **gpu_tests())


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
