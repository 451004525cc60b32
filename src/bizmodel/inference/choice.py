"""Choosing a runtime: accuracy gates (ONNX fp32 parity, the int8 check) and measured speed.

``auto`` keeps the runtimes that pass their gate and takes the fastest on a sample:

- ONNX fp32 must match PyTorch within :data:`FP32_ATOL`;
- an int8 variant (:mod:`bizmodel.inference.quantize`: dynamic, static calibrated on the
  sample, either with the first and last layer in fp32) must pass :func:`int8_check` against
  fp32: with labelled held-out rows, a loss of at most :data:`INT8_METRIC_TOLERANCE` of the
  task metric; without labels, outputs within :data:`INT8_TOLERANCE` standard deviations of
  fp32's. :func:`select_int8` tries each and keeps the fastest that passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError, DataError
from bizmodel.inference.export import export_onnx
from bizmodel.inference.quantize import INT8_VARIANTS, int8_variant, split_calibration
from bizmodel.inference.runtime import OnnxRuntime, Runtime, ServableModel, TorchRuntime

FP32_ATOL = 1e-4  # ONNX fp32 vs PyTorch, absolute, output units (values or probabilities)
INT8_MIN_CORR = 0.98  # dynamic int8 vs PyTorch: Pearson r of outputs (a sanity bound)
# auto serves int8 when mean |int8 - fp32| <= INT8_TOLERANCE * std(fp32 outputs) on a held-out
# sample (and, for classifiers, the top label agrees on >= INT8_MIN_LABEL_AGREEMENT of rows).
INT8_TOLERANCE = 0.05
INT8_MIN_LABEL_AGREEMENT = 0.98
# With labelled held-out rows the gate is the task metric instead (the criterion):
# int8 may lose at most INT8_METRIC_TOLERANCE of Pearson (regression) or macro-F1 (classes).
INT8_METRIC_TOLERANCE = 0.005
# The int8 variants select_int8 tries (bizmodel.inference.quantize.INT8_VARIANTS), in order.
DEFAULT_INT8_VARIANTS = ("dynamic", "dynamic-edges", "static", "static-edges", "static-ffn")
# Without a stored check auto measures at load on synthetic headlines: static ranges calibrated
# on them would not be the users' data, and five exports would add tens of seconds to every
# load of an unchecked version (the demo's), so only dynamic is tried there, as before.
LOAD_INT8_VARIANTS = ("dynamic",)


def max_abs_diff(
    a: Runtime, b: Runtime, texts: Sequence[str], pairs: Sequence[str] | None = None
) -> float:
    """Largest absolute difference between two runtimes' outputs on the same inputs."""
    return float(np.max(np.abs(a.predict(texts, pairs) - b.predict(texts, pairs))))


def throughput(
    runtime: Runtime,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 8,
    repeats: int = 3,
) -> float:
    """Best-of-``repeats`` sequences per second of ``runtime.predict``."""
    runtime.predict(texts[: min(len(texts), batch_size)], pairs[:batch_size] if pairs else None)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        runtime.predict(texts, pairs, batch_size=batch_size)
        best = max(best, len(texts) / (time.perf_counter() - t0))
    return best


def cpu_rate(
    runtime: Runtime,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 8,
    repeats: int = 3,
) -> float:
    """Predictions per CPU-second of ``runtime`` (median of ``repeats`` passes at one thread,
    :func:`bizmodel.inference.cost.measure_inference_cost`).

    Used to rank int8 variants: they run the same work in different kernels, and on shared
    cores wall time says more about the neighbours than about the kernels (in
    docs/benchmarks.md one variant's batch-1 wall rate moved 2x between two runs, its
    CPU-seconds 10-20%).
    """
    from bizmodel.inference.cost import measure_inference_cost

    cost = measure_inference_cost(runtime, texts, pairs, batch_sizes=(batch_size,), repeats=repeats)
    return 1000.0 / max(float(cost["cpu_s_per_1k_best"]), 1e-9)


def int8_check(
    fp32: Any,
    int8: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    tolerance: float = INT8_TOLERANCE,
    targets: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    metric_tolerance: float = INT8_METRIC_TOLERANCE,
) -> dict[str, Any]:
    """How far int8 outputs are from fp32 outputs on held-out inputs, and whether that is
    within ``tolerance``.

    With ``targets`` (the held-out rows' labels: numbers, or class names from ``labels``) the
    verdict is the task metric instead: int8 passes when it loses at most
    ``metric_tolerance`` of Pearson (regression) or macro-F1 (classification) against fp32;
    the output distance is still reported.

    With ``a`` the fp32 and ``b`` the int8 outputs (values, or class probabilities), the
    relative distance is ``d = mean|a - b| / std(a)``; int8 passes when ``d <= tolerance``
    and, for classifiers, the top label agrees on at least
    :data:`INT8_MIN_LABEL_AGREEMENT` of the rows. Outputs with no spread (``std(a) == 0``)
    pass only when they are identical (else ``relative_diff`` is None).

    Parameters
    ----------
    fp32, int8 : runtime
        Anything with ``predict(texts, pairs)`` (e.g. two :class:`OnnxRuntime`).
    texts, pairs : sequences of str
        Held-out inputs (not the training rows).
    tolerance : float
        Largest accepted ``d`` (the verdict without targets).
    targets : sequence, optional
        True values (regression) or class names (classification) of the held-out rows.
    labels : sequence of str, optional
        The classifier's class names, in output order (needed with class-name targets).
    metric_tolerance : float
        Largest accepted loss of the task metric (the verdict with targets).

    Returns
    -------
    dict
        ``n``, ``mean_abs_diff``, ``max_abs_diff``, ``fp32_std``, ``relative_diff``,
        ``tolerance``, ``label_agreement`` (classifiers, else None), ``criterion``
        (``"output difference"`` or ``"task metric"``), with targets also ``metric``,
        ``fp32_metric``, ``int8_metric``, ``metric_delta`` and ``metric_tolerance``; and
        ``within_tolerance``.

    Examples
    --------
    >>> class Fixed:
    ...     def __init__(self, out):
    ...         self.out = np.asarray(out)
    ...     def predict(self, texts, pairs=None):
    ...         return self.out
    >>> c = int8_check(Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([0.0, 1.1, 2.0, 2.9]), ["t"] * 4)
    >>> round(c["relative_diff"], 4), c["within_tolerance"]
    (0.0447, True)
    >>> c = int8_check(Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([0.0, 1.1, 2.0, 2.9]), ["t"] * 4,
    ...                targets=[0.1, 0.9, 2.2, 2.8])
    >>> c["criterion"], c["metric"], round(c["metric_delta"], 4), c["within_tolerance"]
    ('task metric', 'pearson', 0.0017, True)
    """
    a = np.asarray(fp32.predict(texts, pairs), dtype=np.float64)
    b = np.asarray(int8.predict(texts, pairs), dtype=np.float64)
    diff = np.abs(a - b)
    mean_diff = float(diff.mean()) if diff.size else 0.0
    std = float(a.std()) if a.size else 0.0
    # No spread in fp32: the relative distance is undefined (None) unless nothing differs.
    rel = mean_diff / std if std > 0 else (0.0 if mean_diff == 0 else None)
    agreement = None
    ok = rel is not None and rel <= tolerance
    if a.ndim == 2:
        agreement = float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))
        ok = ok and agreement >= INT8_MIN_LABEL_AGREEMENT
    gate: dict[str, Any] = {"criterion": "output difference"}
    if targets is not None:
        gate = _metric_gate(a, b, targets, labels, metric_tolerance)
        ok = gate["metric_delta"] <= metric_tolerance
    return {
        **gate,
        "n": len(texts),
        "mean_abs_diff": mean_diff,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "fp32_std": std,
        "relative_diff": rel,
        "tolerance": tolerance,
        "label_agreement": agreement,
        "within_tolerance": bool(ok),
    }


def _metric_gate(
    a: np.ndarray,
    b: np.ndarray,
    targets: Sequence[Any],
    labels: Sequence[str] | None,
    tolerance: float,
) -> dict[str, Any]:
    """Task metric of fp32 outputs ``a`` and int8 outputs ``b`` against ``targets``."""
    from bizmodel.finetune.metrics import classification_metrics, regression_metrics

    if len(targets) != len(a):
        raise DataError(f"int8 check: {len(targets)} targets for {len(a)} held-out rows")
    if a.ndim == 2:
        if labels is None:
            raise DataError("int8 check: a classifier's targets need its class labels")
        index = {name: i for i, name in enumerate(labels)}
        unknown = sorted({str(t) for t in targets} - set(index))
        if unknown:
            raise DataError(
                f"int8 check: held-out labels {unknown[:5]} are not the model's classes "
                f"{list(labels)}"
            )
        codes = np.array([index[str(t)] for t in targets])
        metric = "macro_f1"
        fa = classification_metrics(codes, a.argmax(axis=1), list(labels))[metric]
        fb = classification_metrics(codes, b.argmax(axis=1), list(labels))[metric]
    else:
        y = np.asarray(targets, dtype=np.float64)
        metric = "pearson"
        fa, fb = regression_metrics(y, a)[metric], regression_metrics(y, b)[metric]
    return {
        "criterion": "task metric",
        "metric": metric,
        "fp32_metric": float(fa),
        "int8_metric": float(fb),
        "metric_delta": float(fa - fb),
        "metric_tolerance": tolerance,
    }


def select_int8(
    model: ServableModel,
    onnx_dir: str | Path,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    targets: Sequence[Any] | None = None,
    variants: Sequence[str] = DEFAULT_INT8_VARIANTS,
    threads: int | None = None,
    speed: Callable[[Runtime], float] | None = None,
    keep_files: bool = False,
) -> dict[str, Any]:
    """Export each int8 ``variant``, check it against ONNX fp32, keep the fastest that passes.

    The graphs of the variants not chosen are deleted afterwards (about 60-70 MB each for
    MiniLM) unless ``keep_files``; the dynamic graph is always kept (``onnx-int8`` asks for
    it by name).

    With a static variant among ``variants``, the sample ``texts``/``pairs`` (the registered
    held-out rows) is split in two (:func:`~bizmodel.inference.quantize.split_calibration`):
    static variants are calibrated on one part, and each variant's :func:`int8_check` on the
    other part decides whether it may be served (the task metric with ``targets``, else the
    output distance), so no variant is judged on rows it was fitted to. Dynamic variants
    alone (no calibration) are checked on every row. Among those that pass, the
    one with the highest ``speed`` (default: :func:`cpu_rate`, predictions per CPU-second at
    batch 8 on the sample) is chosen. A variant that cannot be built (e.g. no layer count for
    ``edges``) is recorded with its ``error`` and skipped.

    Returns
    -------
    dict
        The chosen variant's :func:`int8_check` keys at the top level (the first variant's
        when none passed, with ``within_tolerance`` False), plus ``variant`` (the chosen name
        or None), ``runtime`` (its runtime name or None) and ``variants`` (name → check,
        with ``pred_per_cpu_s`` (or the injected ``speed``) for those that passed). This is
        what ``inference_cost["int8"]``
        of a registered version holds and what :func:`choose_runtime` reads; with
        ``calibration_rows`` and ``gate_rows``, the sizes of the two parts.
    """
    speed = speed or (lambda rt: cpu_rate(rt, texts, pairs))
    # Only static variants are fitted to rows; dynamic ones alone are gated on every row.
    static = any(v in INT8_VARIANTS and INT8_VARIANTS[v].mode == "static" for v in variants)
    cal, gate = split_calibration(len(texts)) if static else ([], list(range(len(texts))))
    calibration = ([texts[i] for i in cal], None if pairs is None else [pairs[i] for i in cal])
    gate_texts = [texts[i] for i in gate]
    gate_pairs = None if pairs is None else [pairs[i] for i in gate]
    gate_targets = None if targets is None else [targets[i] for i in gate]
    fp32 = OnnxRuntime(model, export_onnx(model, onnx_dir), threads=threads)
    fp32_out = _Outputs(fp32.predict(gate_texts, gate_pairs))  # one fp32 pass for every variant
    labels = getattr(model, "labels", None)
    checks: dict[str, dict[str, Any]] = {}
    passed: dict[str, float] = {}
    for name in variants:
        try:
            path = export_onnx(model, onnx_dir, quantize=name, calibration=calibration)
        except ConfigError as exc:
            checks[name] = {"within_tolerance": False, "error": str(exc)}
            continue
        rt = OnnxRuntime(model, path, threads=threads)
        check = int8_check(
            fp32_out, rt, gate_texts, gate_pairs, targets=gate_targets, labels=labels
        )
        if check["within_tolerance"]:
            check["pred_per_cpu_s"] = passed[name] = float(speed(rt))
        checks[name] = check
    chosen = max(passed, key=lambda n: passed[n]) if passed else None
    unused = set() if keep_files else set(variants) - {chosen, "dynamic"}
    for name in unused:
        (Path(onnx_dir) / int8_variant(name).file_name).unlink(missing_ok=True)
    shown = (
        checks[chosen]
        if chosen
        else next((c for c in checks.values() if "error" not in c), {"within_tolerance": False})
    )
    return {
        **{k: v for k, v in shown.items() if k != "pred_per_cpu_s"},
        "within_tolerance": chosen is not None,
        "variant": chosen,
        "runtime": int8_variant(chosen).runtime_name if chosen else None,
        "variants": checks,
        "calibration_rows": len(cal),
        "gate_rows": len(gate),
    }


class _Outputs:
    """Fixed outputs with a runtime's ``predict`` (fp32 computed once, compared many times)."""

    def __init__(self, out: np.ndarray) -> None:
        self.out = out

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        return self.out


def _stored_variant(int8: dict[str, Any]) -> str | None:
    """The int8 variant a stored :func:`select_int8` (or older :func:`int8_check`) allows."""
    if not int8.get("within_tolerance"):
        return None
    return str(int8.get("variant") or "dynamic")  # checks stored before variants: dynamic


def choose_runtime(
    model: ServableModel,
    onnx_dir: str | Path,
    *,
    kind: str = "auto",
    sample_texts: Sequence[str] | None = None,
    sample_pairs: Sequence[str] | None = None,
    threads: int | None = None,
    int8: dict[str, Any] | None = None,
    speed: Callable[[Runtime], float] | None = None,
) -> Runtime:
    """Build the runtime ``kind`` (``torch``, ``onnx``, ``onnx-int8``, ``onnx-int8-<variant>``)
    or choose one (``auto``).

    ``auto`` keeps only runtimes that pass their accuracy gate and then takes the fastest,
    measured on the sample: ONNX fp32 must agree with PyTorch within :data:`FP32_ATOL`; an
    int8 variant must pass :func:`int8_check` against ONNX fp32 — the stored
    :func:`select_int8` result ``int8`` (as measured at registration: its ``variant`` is
    served when ``within_tolerance``) when given, else :func:`select_int8` of
    :data:`LOAD_INT8_VARIANTS` measured now on the sample.

    Parameters
    ----------
    model : ServableModel
        The loaded model.
    onnx_dir : path
        Where ONNX exports live (reused when present).
    kind : str
        ``auto``, ``torch``, ``onnx``, ``onnx-int8`` (dynamic) or ``onnx-int8-<variant>``.
    sample_texts, sample_pairs : sequences of str, optional
        Inputs for the gates and the timing (default: :func:`bizmodel.inference.cost.
        sample_inputs`, 64 synthetic headlines).
    threads : int, optional
        ONNX Runtime intra-op threads.
    int8 : dict, optional
        A stored :func:`select_int8` (or :func:`int8_check`) result.
    speed : callable, optional
        Runtime → predictions per second (default: :func:`throughput` on the sample);
        injectable so tests never depend on the machine's speed.

    Returns
    -------
    Runtime
        The runtime; an ``auto`` choice records its reasons in ``runtime.choice``.
    """
    int8_kinds = {v.runtime_name: name for name, v in INT8_VARIANTS.items()}
    if kind not in ("auto", "torch", "onnx", *int8_kinds):
        raise ConfigError(
            f"runtime must be auto, torch, onnx or one of {', '.join(int8_kinds)}, got {kind!r}"
        )
    if kind == "torch":
        return TorchRuntime(model)
    if kind != "auto":
        q = int8_kinds.get(kind, False)
        path = export_onnx(
            model,
            onnx_dir,
            quantize=q,
            calibration=(sample_texts, sample_pairs) if sample_texts is not None else None,
        )
        return OnnxRuntime(model, path, threads=threads)
    texts, pairs = _sample(model, sample_texts, sample_pairs)
    given = speed
    speed = speed or (lambda rt: throughput(rt, texts, pairs))
    torch_rt = TorchRuntime(model)
    onnx_rt = OnnxRuntime(model, export_onnx(model, onnx_dir), threads=threads)
    choice: dict[str, Any] = {"fp32_max_abs_diff": max_abs_diff(torch_rt, onnx_rt, texts, pairs)}
    candidates: list[Runtime] = [torch_rt]
    if choice["fp32_max_abs_diff"] <= FP32_ATOL:
        candidates.append(onnx_rt)
        check = (
            int8
            if int8 is not None
            else select_int8(
                model,
                onnx_dir,
                texts,
                pairs,
                variants=LOAD_INT8_VARIANTS,
                threads=threads,
                speed=given,
            )
        )
        choice["int8"] = check
        variant = _stored_variant(check)
        if variant is not None:
            path = export_onnx(model, onnx_dir, quantize=variant, calibration=(texts, pairs))
            candidates.append(OnnxRuntime(model, path, threads=threads))
    rates = {rt.name: float(speed(rt)) for rt in candidates}
    best = max(candidates, key=lambda rt: rates[rt.name])
    choice["seq_per_s"] = rates
    best.choice = choice
    return best


def _sample(
    model: ServableModel, texts: Sequence[str] | None, pairs: Sequence[str] | None
) -> tuple[list[str], list[str] | None]:
    from bizmodel.inference.cost import sample_inputs

    wants_pairs = bool(getattr(model, "text_pair_column", None))
    if texts is None:
        return sample_inputs(64, pairs=wants_pairs)
    if wants_pairs and pairs is None:
        pairs = [""] * len(texts)
    return list(texts), list(pairs) if pairs is not None and wants_pairs else None
