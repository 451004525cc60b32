"""Inference cost with the last block on every position vs on the first one only.

A full fine-tune's output reads the last block's first position only (pooler, ``[CLS]``
heads); :func:`bizmodel.finetune.architectures.first_token_shortcut` computes that position
alone. This script loads one model directory, and in ONE process switches the shortcut off
and on (``block.first_token_only``) and measures, for each runtime (PyTorch, ONNX Runtime fp32,
ONNX Runtime dynamic int8; ONNX graphs exported each way into a temporary folder), the median
CPU-seconds per 1,000 predictions over ``--repeats`` passes at one thread, the ratio, and the
largest difference between the two sides' predictions.

Without ``--model-dir`` it first trains a 1-epoch model on the SemEval-2017 headline train
rows (packaged MiniLM, ``--schedule fixed``), the data it then predicts.

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 python benchmarks/first_token.py \\
        --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import DATA  # the headline file, found as there


def last_block(module: Any) -> Any:
    """The block carrying the shortcut (its forward is set on the instance)."""
    blocks = [m for m in module.modules() if "forward" in vars(m)]
    if len(blocks) != 1:
        raise SystemExit("this model has no first-token shortcut (its output reads every token)")
    return blocks[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default=None, help="a model dir (default: train one)")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import torch

    from bizmodel.finetune import load_model, train
    from bizmodel.inference.export import export_onnx
    from bizmodel.inference.runtime import OnnxRuntime, TorchRuntime

    torch.set_num_threads(1)
    df = pd.read_csv(DATA, keep_default_na=False)
    work = Path(tempfile.mkdtemp(prefix="first_token_"))
    model_dir = args.model_dir
    if model_dir is None:
        model_dir = str(work / "model")
        tr = df[df["split"] == "train"]
        train(
            tr,
            text="company",
            text_pair="title",
            target="score",
            output=model_dir,
            schedule="fixed",
            epochs=1,
            show_progress=False,
            num_threads=1,
        )
    texts = df["company"].tolist()[: args.rows]
    pairs = df["title"].tolist()[: args.rows]
    model = load_model(model_dir)
    block = last_block(model.module)
    seconds: dict[tuple[str, bool], float] = {}
    outputs: dict[tuple[str, bool], np.ndarray] = {}
    for first_only in (False, True):
        block.first_token_only = first_only
        graphs = work / f"onnx-{first_only}"
        runtimes = {
            "torch": TorchRuntime(model),
            "onnx": OnnxRuntime(model, export_onnx(model, graphs), threads=1),
            "onnx-int8": OnnxRuntime(model, export_onnx(model, graphs, quantize=True), threads=1),
        }
        for name, runtime in runtimes.items():
            outputs[(name, first_only)] = runtime.predict(texts, pairs)
            times = []
            for _ in range(args.repeats):
                t0 = time.process_time()
                runtime.predict(texts, pairs)
                times.append(time.process_time() - t0)
            seconds[(name, first_only)] = statistics.median(times) * 1000 / len(texts)
    for name in ("torch", "onnx", "onnx-int8"):
        full, short = seconds[(name, False)], seconds[(name, True)]
        diff = float(np.abs(outputs[(name, True)] - outputs[(name, False)]).max())
        print(
            json.dumps(
                {
                    "runtime": name,
                    "cpu_s_per_1k_all_positions": round(full, 3),
                    "cpu_s_per_1k_first_only": round(short, 3),
                    "ratio": round(full / short, 2),
                    "max_abs_diff": float(f"{diff:.2e}"),
                }
            )
        )


if __name__ == "__main__":
    main()
