"""Batch inference: a plain transformers pipeline vs bizmodel's runtimes on SemEval headlines.

All in one process, same threads, same (company, headline) pairs of the SemEval-2017 task 5
test split. Methods:

- ``pipeline``: ``transformers.pipeline("text-classification", batch_size=32)`` on the
  fine-tuned encoder (its classification head is untrained: a throughput reference only);
- ``bizmodel torch``: :class:`bizmodel.inference.TorchRuntime`, length-sorted batches of 32;
- ``bizmodel onnx fp32 traced``: ONNX Runtime on the traced graph (``model.onnx``, ORT's
  built-in graph optimisations only) — what the ``onnx`` runtime serves;
- ``bizmodel onnx fp32 fused``: the graph fused by ONNX Runtime's transformer optimizer
  (``model.opt.onnx``: Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu,
  ``export_onnx(optimize=True)``); ``+ spinning``: the same with intra-op spin-waiting on;
- ``bizmodel onnx int8``: dynamic quantisation, per-channel, MatMul only.

Reported: sequences/s (median of ``--repeats`` runs), ratio to the pipeline, the task metric
(weighted cosine) and its delta vs fp32, FLOPs per sequence and the fraction of the fp32 FLOP
bound. The bound (peak = fp32 2048² GEMM FLOP/s with the same threads) is re-measured before
every repeat and each method's fraction is the median over repeats of (rate / bound of that
repeat), so a load change between repeats moves both. Also reported: the same fraction per
CPU-second (FLOPs per CPU-second of the method / FLOPs per CPU-second of the GEMM), which a
shared machine's time-slicing does not distort (spin-waiting counts as CPU time).

Run:  python benchmarks/batch_inference.py --model-dir runs/headlines-full
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# ../shared/data next to the repository (a worktree under wt/ looks one level further up).
_ROOT = Path(__file__).resolve().parents[1]
DATA = (
    next(
        (p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()),
        _ROOT.parent / "shared",
    )
    / "data"
    / "semeval2017-task5"
)


REF_BOUND = 449.0  # fp32 FLOP bound for MiniLM at 19.7 tokens on this machine, quiet (issue 6)


def encoder_flops(n_tokens: float, cfg: dict) -> float:
    """Forward FLOPs of a BERT-style encoder on one sequence of ``n_tokens`` tokens.

    Per layer: ``2·T·(4H² + 2·H·I)`` for the Q/K/V/output projections and the feed-forward
    block, plus ``4·T²·H`` for the attention scores and their weighted sum; times L layers.
    """
    h, i, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    t = n_tokens
    return layers * (2 * t * (4 * h * h + 2 * h * i) + 4 * t * t * h)


def peak_flops(threads: int) -> tuple[float, float]:
    """fp32 GEMM FLOP/s of torch with ``threads`` threads: (per wall second, per CPU-second),
    medians of 5 products of two 2048 x 2048 matrices."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    walls, cpus = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        a @ b
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    flop = 2 * 2048**3
    return flop / statistics.median(walls), flop / max(statistics.median(cpus), 1e-9)


def run_once(fn) -> tuple[float, float, np.ndarray]:  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds, output) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, np.asarray(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", default=str(DATA / "normalized" / "headlines.csv"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)

    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    transformers.logging.set_verbosity_error()  # the pipeline's untrained head is expected

    from bizmodel.finetune import load_model
    from bizmodel.finetune.metrics import weighted_cosine
    from bizmodel.inference import OnnxRuntime, TorchRuntime, export_onnx, max_abs_diff
    from bizmodel.inference.choice import int8_check

    torch.set_num_threads(args.threads)
    df = pd.read_csv(args.data)
    test = df[df["split"] == "test"].reset_index(drop=True)
    model = load_model(args.model_dir)
    first, second = model.text_column, model.text_pair_column
    col = {"company": "company", "title": "title", "headline": "title"}
    texts = list(test[col.get(first, first)].astype(str))
    pairs = list(test[col.get(second, second)].astype(str)) if second else None
    gold = test["score"].to_numpy(dtype=float)
    n, bs = len(texts), args.batch_size

    enc = model.tokenizer(texts, pairs, truncation=True, max_length=256)
    lengths = np.array([len(x) for x in enc["input_ids"]])
    cfg = AutoModelForSequenceClassification.from_pretrained(
        Path(args.model_dir) / "model", num_labels=1
    ).config.to_dict()
    flops_seq = float(np.mean([encoder_flops(t, cfg) for t in lengths]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = AutoTokenizer.from_pretrained(Path(args.model_dir) / "model")
        clf = AutoModelForSequenceClassification.from_pretrained(
            Path(args.model_dir) / "model", num_labels=1
        )
        pipe = pipeline("text-classification", model=clf, tokenizer=tok, device="cpu")
    inputs = [{"text": t, "text_pair": p} for t, p in zip(texts, pairs or texts, strict=True)]

    def run_pipe():  # type: ignore[no-untyped-def]
        out = pipe(inputs, batch_size=bs, function_to_apply="none", truncation=True)
        return [o["score"] for o in out]

    tmp = Path(tempfile.mkdtemp(prefix="bizmodel-onnx-"))
    torch_rt = TorchRuntime(model)
    opt_path = export_onnx(model, tmp, optimize=True)
    traced = OnnxRuntime(model, tmp / "model.onnx", threads=args.threads)
    fp32 = OnnxRuntime(model, opt_path, threads=args.threads)
    fp32_spin = OnnxRuntime(model, opt_path, threads=args.threads, spinning=True)
    int8 = OnnxRuntime(model, export_onnx(model, tmp, quantize=True), threads=args.threads)
    parity = {
        "traced": max_abs_diff(torch_rt, traced, texts, pairs),
        "optimised": max_abs_diff(torch_rt, fp32, texts, pairs),
    }
    methods = [
        ("transformers pipeline (batch 32)", run_pipe),
        ("bizmodel torch", torch_rt),
        ("bizmodel onnx fp32 traced", traced),
        ("bizmodel onnx fp32 fused", fp32),
        ("bizmodel onnx fp32 fused + spinning", fp32_spin),
        ("bizmodel onnx int8", int8),
    ]

    def call(m):  # type: ignore[no-untyped-def]
        if callable(m) and not hasattr(m, "predict"):
            return m
        return lambda: m.predict(texts, pairs, batch_size=bs)

    for _, m in methods:  # warm-up (allocators, lazy init)
        call(m)()
    loads, peaks = [], []
    rates: dict[str, list[float]] = {name: [] for name, _ in methods}
    frac: dict[str, list[float]] = {name: [] for name, _ in methods}
    frac_cpu: dict[str, list[float]] = {name: [] for name, _ in methods}
    outs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        loads.append(os.getloadavg()[0])
        peak, peak_cpu = peak_flops(args.threads)
        peaks.append(peak)
        for name, m in methods:
            wall, cpu, out = run_once(call(m))
            rates[name].append(n / wall)
            frac[name].append(n * flops_seq / wall / peak)
            frac_cpu[name].append(n * flops_seq / max(cpu, 1e-9) / peak_cpu)
            outs[name] = out
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med["transformers pipeline (batch 32)"]
    peak = statistics.median(peaks)
    bound = peak / flops_seq
    ref = weighted_cosine(gold, outs["bizmodel torch"])
    check = int8_check(fp32, int8, texts, pairs)
    rows = []
    for name, _ in methods:
        metric = None if name.startswith("transformers") else weighted_cosine(gold, outs[name])
        rows.append((name, med[name], metric))

    print(
        f"# batch inference, {n} SemEval-2017 headline pairs (test split), "
        f"{args.threads} threads, batch {bs}, median of {args.repeats}; "
        f"1-min load average at each repeat: {', '.join(f'{x:.1f}' for x in loads)}"
    )
    print(
        f"# mean tokens/seq {lengths.mean():.1f}; FLOPs/seq {flops_seq / 1e6:.0f} M; "
        f"measured fp32 GEMM peak {peak / 1e9:.1f} GFLOP/s (median) -> FLOP bound "
        f"{bound:.0f} seq/s"
    )
    print(f"# reference bound from the issue (quiet machine, 2 cores): {REF_BOUND:.0f} seq/s")
    print(
        f"# max |ONNX fp32 - torch|: traced {parity['traced']:.2e}, "
        f"optimised {parity['optimised']:.2e}"
    )
    rel = check["relative_diff"]
    print(
        f"# int8 vs fp32 on these rows: mean |diff| {check['mean_abs_diff']:.4f}, "
        f"= {rel if rel is None else round(rel, 4)} x fp32 std "
        f"(tolerance {check['tolerance']}: {'within' if check['within_tolerance'] else 'outside'})"
    )
    head = f"{'method':<34} {'seq/s':>8} {'x pipe':>7} {'w-cos':>7} {'delta':>8}"
    print(head + f" {'of bound':>8} {'/CPU-s':>7} {'of 449':>7} {'GFLOP/s':>8}")
    for name, rate, metric in rows:
        m = "" if metric is None else f"{metric:.4f}"
        d = "" if metric is None else f"{metric - ref:+.4f}"
        print(
            f"{name:<34} {rate:>8.1f} {rate / base:>7.2f} {m:>7} {d:>8}"
            f" {statistics.median(frac[name]):>8.2f} {statistics.median(frac_cpu[name]):>7.2f}"
            f" {rate / REF_BOUND:>7.2f} {rate * flops_seq / 1e9:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
