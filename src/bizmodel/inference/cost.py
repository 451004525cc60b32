"""Measured inference cost: wall-clock ms and CPU-seconds per 1,000 predictions.

For each batch size ``b`` the runtime predicts ``n`` texts; ``ms_per_1k = 1000 * wall_s / n * 1000``
and ``cpu_s_per_1k = 1000 * cpu_s / n`` where ``cpu_s`` is the process CPU time
(``time.process_time``, all threads, so intra-op parallelism is counted). The best batch size is
the one with the lowest CPU-seconds per 1k — what a provider pays for.

Examples
--------
>>> class Echo:
...     name = "echo"
...     def predict(self, texts, pairs=None, *, batch_size=32):
...         return [0.0] * len(texts)
>>> cost = measure_inference_cost(Echo(), ["a"] * 8, batch_sizes=(1, 4))
>>> sorted(cost)[:3]
['best_batch_size', 'by_batch_size', 'cpu_s_per_1k_batch1']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

DEFAULT_BATCH_SIZES = (1, 8, 32)


def measure_inference_cost(
    runtime: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
) -> dict[str, Any]:
    """Measure ms and CPU-seconds per 1k predictions of ``runtime`` at each batch size."""
    runtime.predict(texts[:2], pairs[:2] if pairs else None)  # warm up (lazy init, allocator)
    rows = []
    for b in batch_sizes:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        runtime.predict(texts, pairs, batch_size=b)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        n = max(len(texts), 1)
        rows.append({"batch_size": b, "ms_per_1k": 1e6 * wall / n, "cpu_s_per_1k": 1e3 * cpu / n})
    first = rows[0]
    best = min(rows, key=lambda r: (r["cpu_s_per_1k"], r["ms_per_1k"]))
    return {
        "runtime": getattr(runtime, "name", type(runtime).__name__),
        "n_texts": len(texts),
        "ms_per_1k_batch1": first["ms_per_1k"],
        "cpu_s_per_1k_batch1": first["cpu_s_per_1k"],
        "best_batch_size": best["batch_size"],
        "ms_per_1k_best": best["ms_per_1k"],
        "cpu_s_per_1k_best": best["cpu_s_per_1k"],
        "by_batch_size": rows,
    }


def sample_inputs(n: int, *, pairs: bool) -> tuple[list[str], list[str] | None]:
    """``n`` synthetic headline-like texts (about 12 tokens) and company names for pairs.

    Examples
    --------
    >>> texts, companies = sample_inputs(2, pairs=True)
    >>> texts[0], companies[0]
    ('Acme raises full-year profit forecast after strong first-quarter sales', 'Acme')
    """
    firms = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
    verbs = ["raises", "cuts", "confirms", "withdraws"]
    what = ["full-year profit forecast", "dividend", "sales guidance", "cost targets"]
    texts, comps = [], []
    for i in range(n):
        firm = firms[i % len(firms)]
        texts.append(
            f"{firm} {verbs[i // 8 % 4]} {what[i // 32 % 4]} after strong first-quarter sales"
        )
        comps.append(firm)
    return texts, comps if pairs else None


def measure_model_dir(
    path: Any,
    *,
    loader: Any = None,
    runtime: str = "torch",
    n: int = 64,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    int8: bool = False,
    sample: tuple[Sequence[str], Sequence[str] | None] | None = None,
    sample_targets: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Load the model dir at ``path`` and measure its inference cost on ``n`` sample texts.

    With ``int8``, also export ONNX fp32 and int8 graphs (under ``path/onnx``) and store
    :func:`bizmodel.inference.choice.int8_check` of int8 against fp32 on ``sample`` (held-out
    ``(texts, pairs)``; default: the ``n`` synthetic texts) under the key ``"int8"``: the
    serving runtime ``auto`` reads it to decide whether int8 is accurate enough to serve.
    With ``sample_targets`` (the held-out rows' labels) the check is on the task metric.
    """
    from pathlib import Path

    from bizmodel.inference.choice import choose_runtime, int8_check
    from bizmodel.inference.export import export_onnx
    from bizmodel.inference.runtime import OnnxRuntime

    if loader is None:
        import importlib

        loader = importlib.import_module("bizmodel.finetune").load_model
    model = loader(path)
    onnx_dir = Path(path) / "onnx"
    rt = choose_runtime(model, onnx_dir, kind=runtime)
    texts, pairs = sample_inputs(n, pairs=bool(getattr(model, "text_pair_column", None)))
    cost = measure_inference_cost(rt, texts, pairs, batch_sizes=batch_sizes)
    if int8:
        held_texts, held_pairs = sample if sample is not None else (texts, pairs)
        fp32_rt = OnnxRuntime(model, export_onnx(model, onnx_dir))
        int8_rt = OnnxRuntime(model, export_onnx(model, onnx_dir, quantize=True))
        check = int8_check(
            fp32_rt,
            int8_rt,
            held_texts,
            held_pairs,
            targets=sample_targets if sample is not None else None,
            labels=getattr(model, "labels", None),
        )
        check["sample"] = "held-out file" if sample is not None else "synthetic headlines"
        cost["int8"] = check
    return cost


def usd_per_prediction(inference_cost: Any, cpu_usd_per_hour: float) -> float | None:
    """USD per prediction at the best batch size: the measured CPU-seconds per 1,000
    predictions (``cpu_s_per_1k_best`` of a registered version's ``inference_cost``) / 1000 ×
    the CPU price per second; None when nothing was measured.

    Examples
    --------
    >>> usd_per_prediction({"cpu_s_per_1k_best": 3.6}, cpu_usd_per_hour=0.05)
    5e-08
    >>> usd_per_prediction(None, cpu_usd_per_hour=0.05) is None
    True
    """
    per_1k = (inference_cost or {}).get("cpu_s_per_1k_best")
    if per_1k is None:
        return None
    return float(per_1k) / 1000 * cpu_usd_per_hour / 3600
