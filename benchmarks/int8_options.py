"""int8 options on modest models: the task metric each loses against fp32 and its speed.

For each model (``--model NAME=MODEL_DIR,DATA_CSV``; the CSV has a ``split`` column and the
model's text/pair/target columns) the test rows are split in two:

- the **registered sample** (even test rows): what ``bizmodel register --sample`` would get.
  :func:`bizmodel.inference.choice.select_int8` calibrates static variants on a third of it
  and gates every variant on the rest (Pearson within 0.005 of fp32), exactly as registration
  does (results before 2026-12-06 17:00 UTC calibrated and gated on the whole sample);
- the **unseen half** (odd test rows): the metric change there shows whether a variant that
  passed on the sample also holds on rows it was not calibrated or gated on.

Options: ONNX fp32 and every variant of :data:`bizmodel.inference.INT8_VARIANTS` (dynamic,
dynamic with the first/last layer fp32, static QDQ with MinMax or percentile calibration,
static with the first/last layer fp32). Speed: :func:`bizmodel.inference.cost.
measure_inference_cost` (median of ``--repeats`` at one thread, CPU-seconds and wall ms per
1,000 predictions) at batch 1 and 32 on the first ``--n`` test rows, converted to
predictions/s = 1000 / (wall s per 1k). All in one process, one model after another.

``--train DIR`` first trains the three models of issue 21 into DIR: ``sem300`` (1 epoch,
``schedule="fixed"``, on the first 300 SemEval training rows), ``sem1142`` (all 1,142 rows,
training defaults, or ``--schedule``), ``demo`` (``bizmodel.flywheel.loop.
train_headline_model``: 400 generated headlines, 3 epochs).

Run:  python benchmarks/int8_options.py --train runs/int8 [--schedule fixed]
      python benchmarks/int8_options.py --model sem300=runs/int8/sem300,DATA.csv ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

_ROOT = Path(__file__).resolve().parents[1]
SEMEVAL = (
    next(
        (p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()),
        _ROOT.parent / "shared",
    )
    / "data/semeval2017-task5/normalized/headlines.csv"
)


def train_models(out: Path, schedule: str | None) -> list[str]:
    """Train sem300, sem1142 and demo under ``out``; return their ``--model`` specs."""
    from bizmodel.finetune import train
    from bizmodel.flywheel.loop import train_headline_model

    df = pd.read_csv(SEMEVAL)
    df = df[df.split.isin(["train", "test"])]
    cols = {"text": "company", "text_pair": "title", "target": "score", "split_column": "split"}
    small = pd.concat([df[df.split == "train"].head(300), df[df.split == "test"]])
    specs = []
    for name, data, opts in (
        ("sem300", small, {"epochs": 1, "schedule": "fixed"}),
        ("sem1142", df, {"schedule": schedule} if schedule else {}),
    ):
        if not (out / name).is_dir():
            t0 = time.perf_counter()
            train(data, output=out / name, show_progress=False, **cols, **opts)  # type: ignore[arg-type]
            print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        specs.append(f"{name}={out / name},{SEMEVAL}")
    if not (out / "demo" / "model").is_dir():
        train_headline_model(out / "demo", rows=400, epochs=3, show_progress=False)
    specs.append(f"demo={out / 'demo' / 'model'},{out / 'demo' / 'headlines.csv'}")
    return specs


def bench_model(spec: str, n: int, repeats: int) -> list[dict[str, Any]]:
    from bizmodel.finetune import load_model
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.inference import INT8_VARIANTS, OnnxRuntime, export_onnx, select_int8
    from bizmodel.inference.cost import measure_inference_cost

    name, paths = spec.split("=", 1)
    model_dir, data = paths.split(",", 1)
    cols = read_info(model_dir)["columns"]
    test = pd.read_csv(data)
    test = test[test["split"] == "test"].reset_index(drop=True)
    texts = test[cols["text"]].astype(str).tolist()
    pairs = test[cols["text_pair"]].astype(str).tolist() if cols.get("text_pair") else None
    y = test[cols["target"]].to_numpy(dtype=float)
    even, odd = slice(0, None, 2), slice(1, None, 2)
    sample = (texts[even], pairs[even] if pairs else None)

    model = load_model(model_dir)
    onnx_dir = Path(model_dir) / "onnx-int8-bench"
    t0 = time.perf_counter()
    chosen = select_int8(
        model,
        onnx_dir,
        *sample,
        targets=list(y[even]),
        variants=tuple(INT8_VARIANTS),
        keep_files=True,  # every variant is timed below, calibrated as select_int8 did
    )
    select_s = time.perf_counter() - t0
    print(
        f"{name}: select_int8 over {len(INT8_VARIANTS)} variants in {select_s:.0f} s "
        f"-> {chosen['variant']}",
        flush=True,
    )

    def pearson(p: np.ndarray, rows: slice) -> float:
        return float(pearsonr(y[rows], p[rows])[0])

    rows = []
    fp32_out: np.ndarray | None = None
    for option in ["fp32", *INT8_VARIANTS]:
        if "error" in chosen["variants"].get(option, {}):
            print(f"{name} {option}: {chosen['variants'][option]['error']}", flush=True)
            continue
        path = export_onnx(model, onnx_dir, quantize=False if option == "fp32" else option)
        rt = OnnxRuntime(model, path, threads=1)
        out = rt.predict(texts, pairs)
        fp32_out = out if fp32_out is None else fp32_out
        cost = measure_inference_cost(
            rt, texts[:n], pairs[:n] if pairs else None, batch_sizes=(1, 32), repeats=repeats
        )
        by_b = {r["batch_size"]: r for r in cost["by_batch_size"]}
        check = chosen["variants"].get(option, {})
        row = {
            "model": name,
            "option": option,
            "test_pearson": pearson(out, slice(None)),
            "delta_test": pearson(fp32_out, slice(None)) - pearson(out, slice(None)),
            "delta_sample": pearson(fp32_out, even) - pearson(out, even),
            "delta_unseen": pearson(fp32_out, odd) - pearson(out, odd),
            "passes_gate": check.get("within_tolerance") if option != "fp32" else None,
            "chosen": option == chosen["variant"],
            "pred_per_s_b1": 1e6 / by_b[1]["ms_per_1k"],
            "pred_per_s_b32": 1e6 / by_b[32]["ms_per_1k"],
            "cpu_s_per_1k_b1": by_b[1]["cpu_s_per_1k"],
            "cpu_s_per_1k_b32": by_b[32]["cpu_s_per_1k"],
            "file_mb": path.stat().st_size / 1e6,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | option | test Pearson | Δ test | Δ sample (gate) | Δ unseen half | gate | "
        "pred/s b1 | pred/s b32 | CPU-s/1k b1 | CPU-s/1k b32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gate = "—" if r["passes_gate"] is None else ("pass" if r["passes_gate"] else "fail")
        gate += " **(auto)**" if r["chosen"] else ""
        lines.append(
            f"| {r['model']} | {r['option']} | {r['test_pearson']:.4f} | "
            f"{-r['delta_test']:+.4f} | {-r['delta_sample']:+.4f} | {-r['delta_unseen']:+.4f} | "
            f"{gate} | {r['pred_per_s_b1']:.0f} | {r['pred_per_s_b32']:.0f} | "
            f"{r['cpu_s_per_1k_b1']:.2f} | {r['cpu_s_per_1k_b32']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], help="NAME=MODEL_DIR,DATA_CSV")
    ap.add_argument("--train", type=Path, help="train sem300, sem1142 and demo here first")
    ap.add_argument("--schedule", help="sem1142's training schedule (default: train's)")
    ap.add_argument("--n", type=int, default=128, help="test rows timed per option")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    specs = (train_models(args.train, args.schedule) if args.train else []) + args.model
    rows = [r for spec in specs for r in bench_model(spec, args.n, args.repeats)]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
