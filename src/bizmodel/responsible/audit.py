"""Fairness audit: a model's quality and calibration per segment, with bootstrap intervals.

For every segment (value, or combination of values, of the ``segment`` columns) the audit
reports the task's metrics (:mod:`bizmodel.finetune.metrics`), its calibration, and the
*gap* to the rest of the rows on one audited metric; fairlearn's ``MetricFrame`` gives the
disparity between segments (``difference`` = max − min, ``ratio`` = min / max over segments).

Calibration:

- regression: mean residual :math:`\\bar r = \\frac1n\\sum (\\hat y_i - y_i)` (a segment the
  model systematically over- or under-estimates);
- classification: expected calibration error over 10 equal-width confidence bins,
  :math:`\\mathrm{ECE} = \\sum_b \\frac{n_b}{n}\\,|\\mathrm{acc}_b - \\mathrm{conf}_b|
  = \\frac1n \\sum_b |\\sum_{i \\in b} (c_i - p_i)|` with :math:`c_i` 1 when the top class
  is right and :math:`p_i` its probability.

A small segment must not raise false alarms, so the gaps carry percentile bootstrap
intervals (rows resampled within each segment, seeded), and a segment is flagged only when
the whole interval lies beyond the bound: gap > ``max_difference`` (the segment is worse
than the rest), a mean residual further from the rest's than ±``max_calibration_gap`` and
further from 0 (regression), or an ECE above the rest's by more than ``max_calibration_gap``
(classification). Segments with fewer
than ``min_size`` rows are reported but never flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError, DataError
from bizmodel.finetune.metrics import classification_metrics, regression_metrics
from bizmodel.responsible.scoring import METRICS, worse_by

#: Audited metrics: means over rows of a per-row quantity, so segment and rest add up.
ROW_METRICS = {"regression": ("mae", "mse"), "classification": ("accuracy",)}
N_BINS = 10


def expected_calibration_error(correct: Any, confidence: Any, n_bins: int = N_BINS) -> float:
    """ECE of top-class ``confidence`` against ``correct`` (1/0) in equal-width bins.

    Examples
    --------
    >>> expected_calibration_error([1, 0, 1, 1], [0.9, 0.9, 0.6, 0.6])  # (|0.5-0.9| + |1-0.6|)/2
    0.4
    """
    c = np.asarray(correct, dtype=np.float64)
    p = np.asarray(confidence, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    sums = np.bincount(bins, weights=c - p, minlength=n_bins)
    return float(np.abs(sums).sum() / max(c.size, 1))


@dataclass(frozen=True)
class SegmentAudit:
    """One segment's numbers; gaps are segment vs. all other rows."""

    segment: str  # the value(s), joined with "|" for several columns
    n: int
    metrics: dict[str, Any]  # every task metric of the segment's rows
    value: float  # the audited metric
    calibration: float  # mean residual (regression) or ECE (classification)
    calibration_ci: tuple[float, float]  # of the segment's own calibration
    gap: float  # how much worse than the rest on the audited metric (negative: better)
    gap_ci: tuple[float, float]
    calibration_gap: float  # segment minus rest
    calibration_gap_ci: tuple[float, float]
    flagged: bool
    reasons: tuple[str, ...]  # why flagged, or why it could not be judged

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "n": self.n,
            "metrics": {k: v for k, v in self.metrics.items() if k != "confusion_matrix"},
            "value": self.value,
            "calibration": self.calibration,
            "calibration_ci": list(self.calibration_ci),
            "gap": self.gap,
            "gap_ci": list(self.gap_ci),
            "calibration_gap": self.calibration_gap,
            "calibration_gap_ci": list(self.calibration_gap_ci),
            "flagged": self.flagged,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class AuditResult:
    """Per-segment metrics, disparities and flags of one model on one data set."""

    model_dir: str
    data: str
    task: str
    segment_columns: tuple[str, ...]
    metric: str  # the audited metric
    calibration_name: str  # "mean_residual" or "ece"
    n: int
    overall: dict[str, Any]  # task metrics of all rows
    overall_calibration: float
    segments: tuple[SegmentAudit, ...]
    disparity: dict[str, dict[str, float | None]]  # metric -> difference / ratio (fairlearn)
    max_difference: float
    max_calibration_gap: float
    confidence: float
    n_boot: int
    seed: int
    min_size: int

    @property
    def flagged(self) -> tuple[SegmentAudit, ...]:
        """The flagged segments."""
        return tuple(s for s in self.segments if s.flagged)

    def summary(self) -> str:
        cols = ", ".join(self.segment_columns)
        lines = [
            f"audit of {self.model_dir} on {self.data} ({self.n} rows, {self.task}) by {cols}",
            f"  overall {self.metric} {self.overall[self.metric]:.4f}, "
            f"{self.calibration_name} {self.overall_calibration:+.4f}",
            f"  {'segment':<20} {'n':>5} {self.metric:>8} {'gap':>8}  {self.confidence:.0%} CI"
            f"{'':<11} {self.calibration_name:>13}  flag",
        ]
        for s in self.segments:
            ci = f"[{s.gap_ci[0]:+.3f}, {s.gap_ci[1]:+.3f}]"
            lines.append(
                f"  {s.segment[:20]:<20} {s.n:>5} {s.value:>8.4f} {s.gap:>+8.4f}  {ci:<18}"
                f" {s.calibration:>+13.4f}  {'FLAG' if s.flagged else '-'}"
            )
        d = self.disparity[self.metric]
        ratio = "n/a" if d["ratio"] is None else f"{d['ratio']:.3f}"
        lines.append(
            f"  disparity of {self.metric}: difference {d['difference']:.4f}, ratio {ratio}"
        )
        flagged = self.flagged
        lines.append(
            f"  {len(flagged)} segment(s) flagged (bounds: gap {self.max_difference:g}, "
            f"calibration gap {self.max_calibration_gap:g})"
        )
        for s in flagged:
            lines += [f"    {s.segment}: {r}" for r in s.reasons]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": self.model_dir,
            "data": self.data,
            "task": self.task,
            "segment_columns": list(self.segment_columns),
            "metric": self.metric,
            "calibration_name": self.calibration_name,
            "n": self.n,
            "overall": {k: v for k, v in self.overall.items() if k != "confusion_matrix"},
            "overall_calibration": self.overall_calibration,
            "segments": [s.to_dict() for s in self.segments],
            "disparity": self.disparity,
            "flagged": [s.segment for s in self.flagged],
            "max_difference": self.max_difference,
            "max_calibration_gap": self.max_calibration_gap,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "min_size": self.min_size,
        }


def _mean_residual(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_pred) - np.asarray(y_true)))


def _ece_of_labels(y_true: Any, y_pred: Any, confidence: Any) -> float:
    return expected_calibration_error(np.asarray(y_true) == np.asarray(y_pred), confidence)


def _classification(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, Any]:
    return classification_metrics(y_true, y_pred, labels)


def _one_metric(fn: Callable[[Any, Any], dict[str, Any]], name: str, t: Any, p: Any) -> float:
    return float(fn(t, p)[name])


def _segment_labels(df: Any, columns: list[str]) -> np.ndarray:
    parts = [df[c].astype("string").fillna("(missing)").to_numpy(dtype=object) for c in columns]
    return np.array(["|".join(str(v) for v in vals) for vals in zip(*parts, strict=True)])


def _bootstrap_sums(
    groups: list[np.ndarray], rows: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """(G, n_boot, C) sums of ``rows`` (n, C) over each group's resampled rows."""
    out = np.empty((len(groups), n_boot, rows.shape[1]))
    for g, idx in enumerate(groups):
        # Replicates in chunks of about 4M gathered values: memory stays flat for big segments.
        step = max(1, 4_000_000 // (idx.size * rows.shape[1]))
        for b in range(0, n_boot, step):
            m = min(step, n_boot - b)
            draw = idx[rng.integers(0, idx.size, size=(m, idx.size))]  # (m, n_g)
            out[g, b : b + m] = rows[draw].sum(axis=1)
    return out


def audit_arrays(
    task: str,
    targets: np.ndarray,
    outputs: np.ndarray,
    segments: np.ndarray,
    *,
    labels: list[str] | None = None,
    metric: str | None = None,
    max_difference: float = 0.05,
    max_calibration_gap: float = 0.05,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    min_size: int = 10,
) -> dict[str, Any]:
    """The audit's numbers from arrays: what :func:`audit` wraps (fields of AuditResult)."""
    from fairlearn.metrics import MetricFrame

    metric = metric or ROW_METRICS[task][0]
    if metric not in ROW_METRICS[task]:
        raise ConfigError(
            f"audit metric {metric!r} is not a {task} row metric; valid: "
            + ", ".join(ROW_METRICS[task])
        )
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 100:
        raise ConfigError(f"n_boot must be >= 100 for a percentile interval, got {n_boot}")
    names, inverse = np.unique(segments, return_inverse=True)
    if names.size < 2:
        raise DataError(
            f"the segment column(s) have a single value {str(names[0])!r}; an audit compares "
            "at least 2 segments"
        )
    y = np.asarray(targets)
    n = y.size
    # Per-row quantities whose means are the audited metric and the calibration.
    if task == "regression":
        pred = np.asarray(outputs, dtype=np.float64)
        err = pred - y
        loss = np.abs(err) if metric == "mae" else err**2
        cal_bins, cal_diff = np.zeros(n, dtype=np.int64), err
        n_bins, signed = 1, True
        all_metrics: Callable[[Any, Any], dict[str, Any]] = regression_metrics
        cal_fn: Callable[..., float] = _mean_residual
        y_pred: np.ndarray = pred
        sample_params = None
    else:
        probs = np.asarray(outputs, dtype=np.float64)
        y_pred = probs.argmax(axis=1)
        conf = probs.max(axis=1)
        correct = (y_pred == y).astype(np.float64)
        loss = correct
        cal_bins = np.minimum((conf * N_BINS).astype(np.int64), N_BINS - 1)
        cal_diff = correct - conf
        n_bins, signed = N_BINS, False
        all_metrics = partial(_classification, labels=list(labels or []))
        cal_fn = _ece_of_labels
        sample_params = {"calibration": {"confidence": conf}}

    def cal_value(bin_sums: np.ndarray, count: float) -> np.ndarray:
        return (bin_sums.sum(-1) if signed else np.abs(bin_sums).sum(-1)) / count

    # Row matrix: [loss, one column per calibration bin holding that row's diff].
    rows = np.zeros((n, 1 + n_bins))
    rows[:, 0] = loss
    rows[np.arange(n), 1 + cal_bins] = cal_diff
    groups = [np.flatnonzero(inverse == g) for g in range(names.size)]
    rng = np.random.default_rng(seed)
    boot = _bootstrap_sums(groups, rows, n_boot, rng)  # (G, B, C)
    boot_total = boot.sum(axis=0)  # (B, C)
    full = np.stack([rows[idx].sum(axis=0) for idx in groups])  # (G, C)
    total = rows.sum(axis=0)
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]

    frame = MetricFrame(
        metrics={
            **{m: partial(_one_metric, all_metrics, m) for m in METRICS[task]},
            "calibration": cal_fn,
        },
        y_true=y,
        y_pred=y_pred,
        sensitive_features=segments,
        sample_params=sample_params,
    )
    disparity: dict[str, dict[str, float | None]] = {}
    diff, ratio = frame.difference(), frame.ratio()
    for m in [*METRICS[task], "calibration"]:
        r = float(ratio[m])
        meaningful = not (m == "calibration" and signed) and np.isfinite(r)
        disparity[m] = {"difference": float(diff[m]), "ratio": r if meaningful else None}

    out_segments = []
    for g, name in enumerate(names):
        n_g = groups[g].size
        seg_val = full[g, 0] / n_g
        rest_val = (total[0] - full[g, 0]) / (n - n_g)
        gap = worse_by(metric, clean=rest_val, other=seg_val)
        b_seg = boot[g, :, 0] / n_g
        b_rest = (boot_total[:, 0] - boot[g, :, 0]) / (n - n_g)
        gap_ci = np.percentile(worse_by(metric, clean=b_rest, other=b_seg), q)
        cal_seg = float(cal_value(full[g, 1:], n_g))
        cal_gap = cal_seg - float(cal_value(total[1:] - full[g, 1:], n - n_g))
        b_cal = cal_value(boot[g, :, 1:], n_g) - cal_value(
            boot_total[:, 1:] - boot[g, :, 1:], n - n_g
        )
        cal_ci = np.percentile(b_cal, q)
        own_ci = np.percentile(cal_value(boot[g, :, 1:], n_g), q)
        reasons: list[str] = []
        if n_g < min_size:
            reasons.append(f"only {n_g} rows (< min_size {min_size}): not judged")
        else:
            if gap_ci[0] > max_difference:
                reasons.append(
                    f"{metric} {seg_val:.4f} is worse than the rest's {rest_val:.4f} by "
                    f"{gap:.4f} ({confidence:.0%} CI {gap_ci[0]:.4f} to {gap_ci[1]:.4f}, "
                    f"above the bound {max_difference:g})"
                )
            # Regression: the mean residual differs from the rest's beyond the bound, and
            # this segment is the more biased side (with two segments, only the one that
            # is off is flagged; a model biased everywhere alike flags none).
            rest_cal = cal_seg - cal_gap
            beyond = cal_ci[0] > max_calibration_gap or cal_ci[1] < -max_calibration_gap
            if signed and beyond and abs(cal_seg) > abs(rest_cal):
                side = "over" if cal_seg > 0 else "under"
                reasons.append(
                    f"predictions {side}estimate by {cal_seg:+.4f} on average vs. "
                    f"{rest_cal:+.4f} for the rest (gap {confidence:.0%} CI {cal_ci[0]:+.4f} "
                    f"to {cal_ci[1]:+.4f}, beyond ±{max_calibration_gap:g})"
                )
            if not signed and cal_ci[0] > max_calibration_gap:
                reasons.append(
                    f"ECE {cal_seg:.4f} exceeds the rest's by {cal_gap:.4f} ({confidence:.0%} CI "
                    f"{cal_ci[0]:.4f} to {cal_ci[1]:.4f}, above the bound {max_calibration_gap:g})"
                )
        mask = inverse == g
        out_segments.append(
            SegmentAudit(
                segment=str(name),
                n=int(n_g),
                metrics=all_metrics(y[mask], y_pred[mask]),
                value=float(seg_val),
                calibration=cal_seg,
                calibration_ci=(float(own_ci[0]), float(own_ci[1])),
                gap=float(gap),
                gap_ci=(float(gap_ci[0]), float(gap_ci[1])),
                calibration_gap=cal_gap,
                calibration_gap_ci=(float(cal_ci[0]), float(cal_ci[1])),
                flagged=n_g >= min_size and len(reasons) > 0,
                reasons=tuple(reasons),
            )
        )
    return {
        "task": task,
        "metric": metric,
        "calibration_name": "mean_residual" if signed else "ece",
        "n": int(n),
        "overall": all_metrics(y, y_pred),
        "overall_calibration": float(cal_value(total[1:], n)),
        "segments": tuple(out_segments),
        "disparity": disparity,
        "max_difference": max_difference,
        "max_calibration_gap": max_calibration_gap,
        "confidence": confidence,
        "n_boot": n_boot,
        "seed": seed,
        "min_size": min_size,
    }


def audit(
    model_dir: str | Path,
    data: Any,
    segment: list[str] | str,
    *,
    metric: str | None = None,
    max_difference: float = 0.05,
    max_calibration_gap: float = 0.05,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    min_size: int = 10,
) -> AuditResult:
    """Audit model dir ``model_dir`` on labelled ``data`` by the ``segment`` column(s).

    Parameters
    ----------
    model_dir : str or Path
        A model dir written by ``bizmodel train``.
    data : str, Path or DataFrame
        Rows with the model's text column(s), its target and the segment column(s).
    segment : str or list of str
        Column(s) defining segments; several columns audit their combinations.
    metric : str, optional
        Audited metric: ``mae`` (default) or ``mse`` for regression, ``accuracy`` for
        classification.
    max_difference : float
        Flag a segment when its gap's interval lies wholly above this (metric units).
    max_calibration_gap : float
        Flag a segment when the interval of its mean residual minus the rest's lies beyond
        ± this (regression; and the segment's is further from 0), or that of its ECE minus
        the rest's above it (classification).
    confidence, n_boot, seed : optional
        Bootstrap interval level, replicates and seed.
    min_size : int
        Segments with fewer rows are reported but never flagged.

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> audit("advisor-model", "news.csv", segment="region").flagged  # doctest: +SKIP
    ()
    """
    from bizmodel.finetune import load_model
    from bizmodel.responsible.scoring import labelled_rows, predict_texts

    columns = [segment] if isinstance(segment, str) else list(segment)
    if not columns:
        raise ConfigError("audit needs at least one segment column")
    model = load_model(model_dir)
    rows = labelled_rows(model, data, extra=columns)
    ex = rows.examples
    outputs = predict_texts(model, ex.texts, ex.pairs)
    numbers = audit_arrays(
        model.task,
        ex.targets,
        outputs,
        _segment_labels(rows.frame, columns),
        labels=model.labels,
        metric=metric,
        max_difference=max_difference,
        max_calibration_gap=max_calibration_gap,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
        min_size=min_size,
    )
    return AuditResult(
        model_dir=str(model_dir), data=rows.file, segment_columns=tuple(columns), **numbers
    )
