"""Calibration maths: reliability bins and the expected calibration error (pure numpy).

A probability ``p`` is *calibrated* when, among all records given ``p``, a share ``p`` has the
event. The reliability diagram bins the predictions into ``B`` equal-width bins on [0, 1]
(bin ``b`` holds ``b/B <= p < (b+1)/B``; ``p = 1`` falls in the last bin) and plots the
observed event rate of each bin against its mean prediction. The expected calibration error is
the count-weighted mean gap between the two:

.. math::

    ECE = \\sum_{b} \\frac{n_b}{N} \\, \\lvert \\bar y_b - \\bar p_b \\rvert

with ``n_b`` records in bin ``b``, ``ȳ_b`` their event rate and ``p̄_b`` their mean probability
(empty bins contribute nothing). This is the definition of Guo et al. (2017), "On Calibration of
Modern Neural Networks", eq. 3; ``sklearn.calibration.calibration_curve(strategy="uniform")``
gives the same ``ȳ_b`` and ``p̄_b`` for the non-empty bins but not the counts.

Examples
--------
Four records in two bins (hand computation: bin [0, 0.5) has mean 0.15 and event rate 0.5,
bin [0.5, 1] has mean 0.85 and rate 1.0; ECE = 0.5·0.35 + 0.5·0.15 = 0.25):

>>> expected_calibration_error([0.1, 0.2, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
0.25
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bizmodel.errors import DataError


@dataclass(frozen=True)
class ReliabilityBins:
    """The reliability diagram's data: per equal-width bin, its count, mean prediction and event
    rate (NaN for empty bins)."""

    edges: tuple[float, ...]  # B + 1 bin edges on [0, 1]
    count: tuple[int, ...]  # records per bin
    mean_prob: tuple[float, ...]  # p̄_b
    event_rate: tuple[float, ...]  # ȳ_b

    @property
    def ece(self) -> float:
        """Expected calibration error ``Σ n_b/N |ȳ_b − p̄_b|`` over the non-empty bins."""
        n = np.asarray(self.count, dtype=float)
        gap = np.abs(np.asarray(self.event_rate) - np.asarray(self.mean_prob))
        keep = n > 0
        return float(np.sum(n[keep] * gap[keep]) / n.sum())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (NaN for empty bins becomes None)."""

        def clean(v: tuple[float, ...]) -> list[float | None]:
            return [None if np.isnan(x) else float(x) for x in v]

        return {
            "edges": list(self.edges),
            "count": list(self.count),
            "mean_prob": clean(self.mean_prob),
            "event_rate": clean(self.event_rate),
            "ece": self.ece,
        }

    def summary(self) -> str:
        """One line per non-empty bin."""
        lines = [f"ECE {self.ece:.4f} over {sum(self.count)} records"]
        for i, n in enumerate(self.count):
            if n:
                lines.append(
                    f"  [{self.edges[i]:.2f}, {self.edges[i + 1]:.2f}) n={n:<5} "
                    f"mean p {self.mean_prob[i]:.3f}  event rate {self.event_rate[i]:.3f}"
                )
        return "\n".join(lines)


def _check(prob: Any, y: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prob, dtype=float).ravel()
    t = np.asarray(y, dtype=float).ravel()
    if p.size != t.size:
        raise DataError(f"{p.size} probabilities but {t.size} outcomes; they must pair up")
    if p.size == 0:
        raise DataError("no records: calibration needs at least one probability and outcome")
    if not np.all((p >= 0) & (p <= 1)):
        raise DataError(f"probabilities must lie in [0, 1]; got min {p.min()}, max {p.max()}")
    if not np.all((t == 0) | (t == 1)):
        raise DataError(f"outcomes must be 0 or 1; got values {sorted(set(t.tolist()))[:5]}")
    if not isinstance(n_bins, int) or n_bins < 1:
        raise DataError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return p, t


def reliability_bins(prob: Any, y: Any, n_bins: int = 10) -> ReliabilityBins:
    """Bin ``prob`` into ``n_bins`` equal-width bins and summarise each against outcomes ``y``.

    Parameters
    ----------
    prob : array-like of float in [0, 1]
        Predicted event probabilities.
    y : array-like of {0, 1}
        Observed outcomes.
    n_bins : int
        Number of equal-width bins on [0, 1].

    Examples
    --------
    >>> r = reliability_bins([0.1, 0.2, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
    >>> r.count, r.mean_prob, r.event_rate
    ((2, 2), (0.15000000000000002, 0.8500000000000001), (0.5, 1.0))
    """
    p, t = _check(prob, y, n_bins)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=t, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / np.maximum(count, 1), np.nan)
        rate = np.where(count > 0, sum_y / np.maximum(count, 1), np.nan)
    return ReliabilityBins(
        edges=tuple(float(e) for e in np.linspace(0.0, 1.0, n_bins + 1)),
        count=tuple(int(c) for c in count),
        mean_prob=tuple(float(v) for v in mean_p),
        event_rate=tuple(float(v) for v in rate),
    )


def expected_calibration_error(prob: Any, y: Any, n_bins: int = 10) -> float:
    """ECE of ``prob`` against outcomes ``y`` with ``n_bins`` equal-width bins (see module),
    rounded to 12 decimals so that float noise does not show.

    Examples
    --------
    A perfectly calibrated bin has no gap:

    >>> expected_calibration_error([0.5, 0.5], [0, 1], n_bins=10)
    0.0
    """
    return round(reliability_bins(prob, y, n_bins).ece, 12)


__all__ = ["ReliabilityBins", "expected_calibration_error", "reliability_bins"]
