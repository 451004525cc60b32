"""Choosing a runtime: accuracy gates (ONNX fp32 parity, the int8 check) and measured speed.

``auto`` keeps the runtimes that pass their gate and takes the fastest on a sample:

- ONNX fp32 must match PyTorch within :data:`FP32_ATOL`;
- an int8 variant (:mod:`bizmodel.inference.quantize`: dynamic, static calibrated on the
  sample, either with the first and last layer in fp32) must pass :func:`int8_check` against
  fp32: with labelled held-out rows, the one-sided 95% upper bound of its task-metric loss (a
  seeded paired bootstrap over the rows, :func:`metric_loss_bound`) must be at most
  :data:`INT8_METRIC_TOLERANCE`, for dynamic variants under every batching the server may
  use; without labels, outputs within :data:`INT8_TOLERANCE` standard deviations of
  fp32's. :func:`select_int8` tries each and keeps the fastest that passes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
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
# int8 may lose at most INT8_METRIC_TOLERANCE of Pearson (regression) or macro-F1 (classes),
# and the loss observed on ~160 rows is too noisy to decide that (docs/benchmarks.md, "int8
# gate": variants that lost <= 0.005 on the gate rows lost up to 0.019 on unseen rows), so the
# verdict is the one-sided INT8_CONFIDENCE upper bound of the loss (paired bootstrap).
INT8_METRIC_TOLERANCE = 0.005
INT8_CONFIDENCE = 0.95
INT8_BOOTSTRAP_RESAMPLES = 2000
INT8_BOOTSTRAP_SEED = 0
# Dynamic int8 scales activations per batch, so a row's output depends on the rows batched with
# it: dynamic variants are also checked in batches of one and in seeded mixed batches of the
# micro-batcher's default size, and the worst batching decides.
INT8_CHECK_BATCH = 32
DYNAMIC_BATCHINGS = ("one", "mixed")
# The int8 variants select_int8 tries (bizmodel.inference.quantize.INT8_VARIANTS), in order.
DEFAULT_INT8_VARIANTS = ("dynamic", "dynamic-edges", "static", "static-edges", "static-ffn")
# Without a stored check auto measures at load on synthetic headlines: static ranges calibrated
# on them would not be the users' data, and five exports would add tens of seconds to every
# load of an unchecked version (the demo's), so only dynamic is tried there, as before.
LOAD_INT8_VARIANTS = ("dynamic",)


@dataclass(frozen=True)
class LossBound:
    """A paired bootstrap of ``metric(fp32) - metric(int8)`` (:func:`metric_loss_bound`)."""

    metric: str  # "pearson" or "macro_f1"
    n: int  # rows resampled
    metric_delta: float  # the loss observed on all n rows (positive: int8 is worse)
    loss_bound: float  # one-sided upper bound of the loss at ``confidence``
    confidence: float
    resamples: int
    seed: int

    def summary(self) -> str:
        return (
            f"{self.metric} loss {self.metric_delta:+.4f}, {self.confidence:.0%} upper bound "
            f"{self.loss_bound:+.4f} (paired bootstrap, {self.resamples} resamples of "
            f"{self.n} rows, seed {self.seed})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pearson_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r of each row of ``y`` and ``p`` (resamples x rows); NaN without spread."""
    yc = y - y.mean(axis=1, keepdims=True)
    pc = p - p.mean(axis=1, keepdims=True)
    den = np.sqrt((yc * yc).sum(axis=1) * (pc * pc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (yc * pc).sum(axis=1) / den, np.nan)


def _macro_f1_rows(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 over ``k`` classes of each row of codes ``t``, ``p`` (as classification_metrics:
    a class neither true nor predicted scores 0)."""
    f1 = np.zeros(t.shape[0])
    for c in range(k):
        tp = ((t == c) & (p == c)).sum(axis=1)
        den = (t == c).sum(axis=1) + (p == c).sum(axis=1)
        f1 += np.divide(2.0 * tp, den, out=np.zeros(t.shape[0]), where=den > 0)
    return f1 / k


def metric_loss_bound(
    truth: Sequence[Any] | np.ndarray,
    fp32: np.ndarray,
    int8: np.ndarray,
    *,
    metric: str = "pearson",
    num_classes: int | None = None,
    confidence: float = INT8_CONFIDENCE,
    resamples: int = INT8_BOOTSTRAP_RESAMPLES,
    seed: int = INT8_BOOTSTRAP_SEED,
) -> LossBound:
    """How much of the task metric int8 loses against fp32 on these rows, and how much it may
    lose on rows like them: the one-sided ``confidence`` upper bound of the loss.

    Paired percentile bootstrap: ``resamples`` draws of the rows with replacement (seeded: the
    same draws for the same ``n``, whatever the outputs), each scoring both outputs on the same
    rows, so the noise the two share (which rows are hard) cancels and what is left is the
    noise in how int8's changes fall. The bound is the ``confidence`` quantile of
    ``metric(fp32*) - metric(int8*)`` over the draws (draws without spread are skipped).

    Parameters
    ----------
    truth : sequence
        True values (``pearson``) or integer class codes (``macro_f1``).
    fp32, int8 : ndarray
        Predicted values, or class codes (``macro_f1``), in the rows' order.
    metric : str
        ``pearson`` or ``macro_f1``.
    num_classes : int, optional
        The classifier's class count (``macro_f1``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(size=200)
    >>> a = y + rng.normal(size=200)
    >>> _ = rng.normal(size=200)
    >>> metric_loss_bound(y, a, a).loss_bound  # identical outputs lose nothing
    0.0

    Noise that costs more in some rows than it gains in others: the loss seen on these 200
    rows (0.0032) is within 0.005, but rows like them may lose up to 0.0065:

    >>> noisy = a + 0.05 * rng.normal(size=200)
    >>> got = metric_loss_bound(y, a, noisy)
    >>> round(got.metric_delta, 4), round(got.loss_bound, 4)
    (0.0032, 0.0065)
    >>> metric_loss_bound(y, a, noisy) == metric_loss_bound(y, a, noisy)  # seeded
    True
    """
    y = np.asarray(truth, dtype=np.float64)
    a, b = np.asarray(fp32, dtype=np.float64), np.asarray(int8, dtype=np.float64)
    n = len(y)
    if not (len(a) == len(b) == n) or n < 2:
        raise DataError(f"int8 loss bound: needs >= 2 rows with both outputs, got {n}")
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    if metric == "pearson":
        full = _pearson_rows(y[None, :], a[None, :]) - _pearson_rows(y[None, :], b[None, :])
        draws = _pearson_rows(y[idx], a[idx]) - _pearson_rows(y[idx], b[idx])
    elif metric == "macro_f1":
        k = int(num_classes or 1 + max(y.max(), a.max(), b.max()))
        t, pa, pb = y.astype(np.int64), a.astype(np.int64), b.astype(np.int64)
        full = _macro_f1_rows(t[None, :], pa[None, :], k) - _macro_f1_rows(
            t[None, :], pb[None, :], k
        )
        draws = _macro_f1_rows(t[idx], pa[idx], k) - _macro_f1_rows(t[idx], pb[idx], k)
    else:
        raise ConfigError(f"int8 loss bound: metric must be pearson or macro_f1, got {metric!r}")
    draws = draws[np.isfinite(draws)]
    bound = float(np.quantile(draws, confidence)) if draws.size else float("inf")
    delta = float(full[0]) if np.isfinite(full[0]) else float("inf")
    return LossBound(metric, n, delta, max(bound, delta), confidence, resamples, seed)


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
    batchings: Sequence[str] = (),
) -> dict[str, Any]:
    """How far int8 outputs are from fp32 outputs on held-out inputs, and whether that is
    within ``tolerance``.

    With ``targets`` (the held-out rows' labels: numbers, or class names from ``labels``) the
    verdict is the task metric instead: int8 passes when the one-sided
    :data:`INT8_CONFIDENCE` upper bound of its loss of Pearson (regression) or macro-F1
    (classification) against fp32 (:func:`metric_loss_bound`) is at most
    ``metric_tolerance``; the output distance is still reported.

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
        Largest accepted upper bound of the task metric's loss (the verdict with targets).
    batchings : sequence of str
        Further ways to batch the int8 rows, each checked too (the worst decides): ``one``
        (batches of one row) and ``mixed`` (seeded random batches of
        :data:`INT8_CHECK_BATCH`, as a busy micro-batcher forms them); the int8 runtime
        needs ``predict(..., batch_size=)``. Always checked: ``predict``'s own batching.

    Returns
    -------
    dict
        ``n``, ``mean_abs_diff``, ``max_abs_diff``, ``fp32_std``, ``relative_diff``,
        ``tolerance``, ``label_agreement`` (classifiers, else None), ``criterion``
        (``"output difference"`` or ``"task metric"``), with targets also ``metric``,
        ``fp32_metric``, ``int8_metric``, ``metric_delta``, ``metric_tolerance``,
        ``loss_bound`` (the largest over the batchings), ``rule`` (the verdict's rule in
        words) and ``batchings`` (name → ``metric_delta`` and ``loss_bound``); and
        ``within_tolerance``. The figures above ``batchings`` are those of the worst batching.

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

    With targets, a loss of 0.0017 Pearson on 4 rows is no evidence of a loss under 0.005:

    >>> c = int8_check(Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([0.0, 1.1, 2.0, 2.9]), ["t"] * 4,
    ...                targets=[0.1, 0.9, 2.2, 2.8])
    >>> c["criterion"], c["metric"], round(c["metric_delta"], 4), c["within_tolerance"]
    ('task metric', 'pearson', 0.0017, False)
    >>> round(c["loss_bound"], 3) > 0.005
    True
    """
    a = np.asarray(fp32.predict(texts, pairs), dtype=np.float64)
    outputs = {"sorted": np.asarray(int8.predict(texts, pairs), dtype=np.float64)}
    for name in batchings:
        outputs[name] = predict_in_batches(int8, texts, pairs, name)
    worst: dict[str, Any] | None = None
    gates: dict[str, dict[str, Any]] = {}
    if targets is not None:
        for name, out in outputs.items():
            gates[name] = _metric_gate(a, out, targets, labels, metric_tolerance)
        name = max(gates, key=lambda k: gates[k]["loss_bound"])
        worst = gates[name]
        b = outputs[name]
    else:  # the largest output distance decides
        name = max(outputs, key=lambda k: float(np.abs(a - outputs[k]).mean()) if a.size else 0)
        b = outputs[name]
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
    if worst is not None:
        ok = worst["loss_bound"] <= metric_tolerance
        gate = {
            **{k: v for k, v in worst.items() if k != "bound"},
            "rule": _rule(worst["bound"], metric_tolerance, len(outputs), ok),
            "batchings": {
                k: {"metric_delta": g["metric_delta"], "loss_bound": g["loss_bound"]}
                for k, g in gates.items()
            },
        }
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


def rows_to_pass(check: Mapping[str, Any]) -> int | None:
    """About how many gate rows would let a refused task-metric check pass, if its observed
    loss stayed as it is: the bound's margin over the loss narrows as 1/sqrt(rows), so
    ``n * (margin / (tolerance - loss))**2``. None where the check passed, has no bound, or
    its observed loss is already over the tolerance (more rows would not help).

    Examples
    --------
    >>> rows_to_pass({"n": 491, "metric_delta": 0.001, "loss_bound": 0.0106,
    ...               "metric_tolerance": 0.005, "within_tolerance": False})
    2829
    >>> rows_to_pass({"n": 491, "metric_delta": 0.006, "loss_bound": 0.0106,
    ...               "metric_tolerance": 0.005, "within_tolerance": False}) is None
    True
    """
    try:
        n, loss = int(check["n"]), float(check["metric_delta"])
        bound, tolerance = float(check["loss_bound"]), float(check["metric_tolerance"])
    except (KeyError, TypeError, ValueError):
        return None
    if check.get("within_tolerance") or loss >= tolerance or bound <= loss:
        return None
    return math.ceil(n * ((bound - loss) / (tolerance - loss)) ** 2)


def _rule(bound: LossBound, tolerance: float, batchings: int, ok: bool) -> str:
    """The task-metric verdict in words (stored, and printed by ``bizmodel register``)."""
    worst = f", worst of {batchings} batchings" if batchings > 1 else ""
    return (
        f"{bound.confidence:.0%} upper bound of the {bound.metric} loss "
        f"{bound.loss_bound:.4f} {'<=' if ok else '>'} {tolerance} (paired bootstrap, "
        f"{bound.resamples} resamples of {bound.n} rows, seed {bound.seed}{worst})"
    )


def predict_in_batches(
    runtime: Any, texts: Sequence[str], pairs: Sequence[str] | None, batching: str
) -> np.ndarray:
    """``runtime``'s outputs with the rows batched as ``batching`` (see :func:`int8_check`)."""
    n = len(texts)
    if batching == "one":
        chunks = [np.array([i]) for i in range(n)]
    elif batching == "mixed":
        order = np.random.default_rng(INT8_BOOTSTRAP_SEED).permutation(n)
        chunks = [order[i : i + INT8_CHECK_BATCH] for i in range(0, n, INT8_CHECK_BATCH)]
    else:
        raise ConfigError(f"int8 check: batching must be one or mixed, got {batching!r}")
    out: np.ndarray | None = None
    for idx in chunks:
        part = np.asarray(
            runtime.predict(
                [texts[i] for i in idx],
                None if pairs is None else [pairs[i] for i in idx],
                batch_size=len(idx),
            ),
            dtype=np.float64,
        )
        if out is None:
            out = np.empty((n, *part.shape[1:]))
        out[idx] = part
    return out if out is not None else np.zeros((0,))


def _metric_gate(
    a: np.ndarray,
    b: np.ndarray,
    targets: Sequence[Any],
    labels: Sequence[str] | None,
    tolerance: float,
) -> dict[str, Any]:
    """Task metric of fp32 outputs ``a`` and int8 outputs ``b`` against ``targets``, with the
    bootstrap bound of the loss (``bound``, a :class:`LossBound`)."""
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
        bound = metric_loss_bound(
            codes, a.argmax(axis=1), b.argmax(axis=1), metric=metric, num_classes=len(labels)
        )
    else:
        y = np.asarray(targets, dtype=np.float64)
        metric = "pearson"
        fa, fb = regression_metrics(y, a)[metric], regression_metrics(y, b)[metric]
        bound = metric_loss_bound(y, a, b, metric=metric)
    return {
        "criterion": "task metric",
        "metric": metric,
        "fp32_metric": float(fa),
        "int8_metric": float(fb),
        "metric_delta": float(fa - fb),
        "metric_tolerance": tolerance,
        "loss_bound": bound.loss_bound,
        "confidence": bound.confidence,
        "resamples": bound.resamples,
        "bound": bound,
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
    (fitted to no rows) are checked on every row, and in three batchings (the runtime's
    sorted batches, batches of one, seeded mixed batches: the worst decides, since their
    outputs depend on the batch). Among those that pass, the
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
        ``calibration_rows`` and ``gate_rows``, the sizes of the two parts (each check's ``n``
        is the rows it was decided on: ``gate_rows`` for static variants, all for dynamic).
    """
    speed = speed or (lambda rt: cpu_rate(rt, texts, pairs))
    # Only static variants are fitted to rows; dynamic ones are gated on every row (more rows,
    # a tighter bound: none of them was fitted to any).
    static = any(v in INT8_VARIANTS and INT8_VARIANTS[v].mode == "static" for v in variants)
    every = list(range(len(texts)))
    cal, gate = split_calibration(len(texts)) if static else ([], every)
    calibration = ([texts[i] for i in cal], None if pairs is None else [pairs[i] for i in cal])
    fp32 = OnnxRuntime(model, export_onnx(model, onnx_dir), threads=threads)
    fp32_all = fp32.predict(texts, pairs)  # one fp32 pass for every variant
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
        dynamic = name in INT8_VARIANTS and INT8_VARIANTS[name].mode == "dynamic"
        rows = every if dynamic else gate
        check = int8_check(
            _Outputs(fp32_all[rows]),
            rt,
            [texts[i] for i in rows],
            None if pairs is None else [pairs[i] for i in rows],
            targets=None if targets is None else [targets[i] for i in rows],
            labels=labels,
            batchings=DYNAMIC_BATCHINGS if dynamic else (),
        )
        if check["within_tolerance"]:
            check["pred_per_cpu_s"] = passed[name] = float(speed(rt))
        checks[name] = check
    chosen = max(passed, key=lambda n: passed[n]) if passed else None
    unused = set() if keep_files else set(variants) - {chosen, "dynamic"}
    for name in unused:
        (Path(onnx_dir) / int8_variant(name).file_name).unlink(missing_ok=True)
    shown_name = chosen or next((n for n, c in checks.items() if "error" not in c), None)
    shown = checks[shown_name] if shown_name else {"within_tolerance": False}
    return {
        **{k: v for k, v in shown.items() if k != "pred_per_cpu_s"},
        "shown": shown_name,  # the variant whose figures are above: the chosen, else the first
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
