"""The held-out int8 gate on modest models: each variant's verdict under the bootstrap rule
(and under the old "observed loss <= 0.005" rule) against its Pearson change on rows it never saw.

As ``int8_options.py``: the SemEval test rows are split in two, the **registered sample** (even
rows, what ``bizmodel register --sample`` would get) and the **unseen half** (odd rows).
``select_int8`` over every variant splits the sample itself (a third calibrates static
variants, the rest gates them; dynamic ones are gated on all ``n`` sample rows); this reports,
per variant, the Pearson loss on its gate rows (``gate``: the runtime's
length-sorted batches of 32), its one-sided 95% bootstrap bound (``bound``: for dynamic
variants the worst of sorted, one-row and mixed batches), both verdicts, and the loss on the
unseen half: ``unseen`` in sorted batches, ``unseen_mix`` in seeded mixed batches of 32 (what a
busy micro-batcher forms; dynamic variants only, static outputs do not depend on the batch).
Exports go to a fresh folder (an existing static graph would keep its old calibration), and
model folders are only read. The speed is not measured (every variant gets the same injected
speed), so ``chosen`` is only the first that passed.

Run:  python benchmarks/int8_gate_split.py --model sem300=DIR --model sem1142=DIR [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

from bizmodel.finetune import load_model
from bizmodel.inference import INT8_VARIANTS, OnnxRuntime, export_onnx, select_int8
from bizmodel.inference.choice import INT8_METRIC_TOLERANCE, predict_in_batches

SEMEVAL = Path(__file__).resolve().parents[2] / "shared/data/semeval2017-task5/normalized"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=MODEL_DIR")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args(argv)
    df = pd.read_csv(SEMEVAL / "headlines.csv")
    test = df[df["split"] == "test"].reset_index(drop=True)
    texts, pairs = test["company"].astype(str).tolist(), test["title"].astype(str).tolist()
    y = test["score"].to_numpy(dtype=float)
    even, odd = slice(0, None, 2), slice(1, None, 2)
    rows: list[dict[str, Any]] = []
    print(
        f"{'model':<8} {'option':<18} {'n':>4} {'gate':>8} {'bound':>8} {'unseen':>8} "
        f"{'unseen_mix':>10} old   new   chosen"
    )
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
                mixed = None
                if INT8_VARIANTS[option].mode == "dynamic":
                    out = predict_in_batches(rt, texts[odd], pairs[odd], "mixed")
                    mixed = base - pearsonr(y[odd], out)[0]
                gate = check["batchings"]["sorted"]["metric_delta"]
                row = {
                    "model": name,
                    "option": option,
                    "gate_rows": check["n"],
                    "unseen_rows": len(y[odd]),
                    "gate_loss": gate,
                    "bound": check["loss_bound"],
                    "unseen_loss": float(unseen),
                    "unseen_loss_mixed": None if mixed is None else float(mixed),
                    "old_pass": gate <= INT8_METRIC_TOLERANCE,
                    "new_pass": bool(check["within_tolerance"]),
                    "chosen": option == got["variant"],
                    "batchings": check["batchings"],
                }
                rows.append(row)
                mix = f"{mixed:>+10.4f}" if mixed is not None else f"{'-':>10}"
                print(
                    f"{name:<8} {option:<18} {check['n']:>4} {gate:>+8.4f} {row['bound']:>+8.4f} "
                    f"{unseen:>+8.4f} {mix} {row['old_pass']!s:<5} {row['new_pass']!s:<5} "
                    f"{row['chosen']}",
                    flush=True,
                )
        print(json.dumps({k: got[k] for k in ("variant", "calibration_rows", "gate_rows")}))
        print(f"  rule: {got.get('rule')}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
