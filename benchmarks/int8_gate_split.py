"""The held-out int8 gate on modest models: what ``select_int8`` chooses now, and whether the
chosen variant keeps Pearson within 0.005 of fp32 on rows it never saw.

As ``int8_options.py``: the SemEval test rows are split in two, the **registered sample** (even
rows, what ``bizmodel register --sample`` would get) and the **unseen half** (odd rows).
``select_int8`` over every variant splits the sample itself (a third calibrates, the rest
gates); this reports each variant's Pearson change on the gate rows and on the unseen half.
Exports go to a fresh folder (an existing static graph would keep its old calibration).
The speed is not measured (every variant gets the same injected speed), so ``chosen`` is only
the first that passed; what matters here is each variant's verdict against its unseen change.

Run:  python benchmarks/int8_gate_split.py --model sem300=DIR --model sem1142=DIR
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

from bizmodel.finetune import load_model
from bizmodel.inference import INT8_VARIANTS, OnnxRuntime, export_onnx, select_int8

SEMEVAL = Path(__file__).resolve().parents[2] / "shared/data/semeval2017-task5/normalized"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=MODEL_DIR")
    args = ap.parse_args(argv)
    df = pd.read_csv(SEMEVAL / "headlines.csv")
    test = df[df["split"] == "test"].reset_index(drop=True)
    texts, pairs = test["company"].astype(str).tolist(), test["title"].astype(str).tolist()
    y = test["score"].to_numpy(dtype=float)
    even, odd = slice(0, None, 2), slice(1, None, 2)
    print(f"{'model':<8} {'option':<18} {'gate':>8} {'unseen':>8} pass chosen")
    for spec in args.model:
        name, model_dir = spec.split("=", 1)
        model = load_model(model_dir)
        with tempfile.TemporaryDirectory(prefix="int8-gate-") as onnx_dir:
            got = select_int8(
                model, onnx_dir, texts[even], pairs[even], targets=list(y[even]),
                variants=tuple(INT8_VARIANTS), keep_files=True, threads=1, speed=lambda rt: 1.0,
            )  # fmt: skip
            fp32 = OnnxRuntime(model, export_onnx(model, onnx_dir), threads=1)
            base = pearsonr(y[odd], fp32.predict(texts[odd], pairs[odd]))[0]
            for option, check in got["variants"].items():
                if "error" in check:
                    continue
                rt = OnnxRuntime(model, export_onnx(model, onnx_dir, quantize=option), threads=1)
                unseen = base - pearsonr(y[odd], rt.predict(texts[odd], pairs[odd]))[0]
                gate = check["metric_delta"]
                print(
                    f"{name:<8} {option:<18} {gate:>+8.4f} {unseen:>+8.4f} "
                    f"{check['within_tolerance']!s:<5} {option == got['variant']}",
                    flush=True,
                )
        print(json.dumps({k: got[k] for k in ("variant", "calibration_rows", "gate_rows")}))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
