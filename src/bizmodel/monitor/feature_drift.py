"""Drift of tabular features and predictions: thresholds, per-feature results, the report.

See :mod:`bizmodel.monitor.drift` for the method (effect sizes, PSI and JS thresholds); import
the names from there.

Examples
--------
>>> numeric_drift([1, 2, 3, 4] * 50, [4, 4, 4, 4] * 50, n_bins=4).severity
'major'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.distances import (
    _categorical_counts,
    _finite_1d,
    _numeric_counts,
    js_distance,
    psi,
)

Severity = Literal["none", "moderate", "major"]
_SEVERITY_RANK: dict[str, int] = {"none": 0, "moderate": 1, "major": 2}


@dataclass(frozen=True)
class DriftThresholds:
    """Effect-size thresholds: a distance at or above ``*_moderate`` / ``*_major`` flags."""

    psi_moderate: float = 0.1  # PSI convention: 0.1 = moderate shift
    psi_major: float = 0.25  # PSI convention: 0.25 = major shift
    js_moderate: float = 0.1  # JS distance (base 2); Evidently's default drift threshold
    js_major: float = 0.2
    share_major: float = 0.5  # embeddings: share of projected dimensions drifted for "major"

    def __post_init__(self) -> None:
        for low, high in (("psi_moderate", "psi_major"), ("js_moderate", "js_major")):
            lo, hi = getattr(self, low), getattr(self, high)
            if not (0 < lo <= hi):
                raise ConfigError(
                    f"DriftThresholds: need 0 < {low} <= {high}; got {low}={lo}, {high}={hi}"
                )

    def severity(self, psi_value: float, js_value: float) -> Severity:
        """The worse of the two distances' classes."""
        if psi_value >= self.psi_major or js_value >= self.js_major:
            return "major"
        if psi_value >= self.psi_moderate or js_value >= self.js_moderate:
            return "moderate"
        return "none"


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature (or one summary of a group, such as an embedding)."""

    name: str
    kind: str  # "numeric", "categorical" or "embedding"
    psi: float
    js: float
    severity: Severity
    n_reference: int
    n_current: int
    reference_mean: float | None = None  # numeric only
    current_mean: float | None = None
    details: Mapping[str, float] = field(default_factory=dict)  # e.g. share of drifted dims

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "js": self.js,
            "severity": self.severity,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "reference_mean": self.reference_mean,
            "current_mean": self.current_mean,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of several features between a reference and a current sample."""

    features: tuple[FeatureDrift, ...]
    thresholds: DriftThresholds = DriftThresholds()

    @property
    def severity(self) -> Severity:
        """The worst severity over all features."""
        worst = max((_SEVERITY_RANK[f.severity] for f in self.features), default=0)
        levels: tuple[Severity, ...] = ("none", "moderate", "major")
        return levels[worst]

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of features at moderate or major drift."""
        return tuple(f.name for f in self.features if f.severity != "none")

    def feature(self, name: str) -> FeatureDrift:
        """The drift of feature ``name``."""
        for f in self.features:
            if f.name == name:
                return f
        names = [f.name for f in self.features]
        raise DataError(f"DriftReport has no feature {name!r}; features: {names}")

    def summary(self) -> str:
        """Text table, one line per feature."""
        lines = [f"Drift: {self.severity} ({len(self.drifted)}/{len(self.features)} drifted)"]
        lines.append(f"{'feature':<28}{'kind':<13}{'PSI':>8}{'JS':>8}  severity")
        for f in self.features:
            lines.append(f"{f.name:<28}{f.kind:<13}{f.psi:>8.4f}{f.js:>8.4f}  {f.severity}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the report's ``drift_section`` takes this)."""
        t = self.thresholds
        return {
            "severity": self.severity,
            "drifted": list(self.drifted),
            "thresholds": {
                "psi_moderate": t.psi_moderate,
                "psi_major": t.psi_major,
                "js_moderate": t.js_moderate,
                "js_major": t.js_major,
            },
            "features": [f.to_dict() for f in self.features],
        }


# ----------------------------------------------------------------------------- per feature


def numeric_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    name: str = "value",
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of a numeric feature, binned at the reference's quantiles.

    Non-finite values are dropped. See the module docstring for PSI and JS.

    Examples
    --------
    >>> d = numeric_drift([1, 2, 3, 4] * 50, [1, 2, 3, 4] * 50, n_bins=4)
    >>> (d.psi, d.js, d.severity)
    (0.0, 0.0, 'none')
    """
    t = thresholds or DriftThresholds()
    ref, cur = _finite_1d(reference, name), _finite_1d(current, name)
    r, c = _numeric_counts(ref, cur, n_bins)
    p, j = psi(r, c), js_distance(r, c)
    return FeatureDrift(
        name,
        "numeric",
        p,
        j,
        t.severity(p, j),
        ref.size,
        cur.size,
        float(ref.mean()),
        float(cur.mean()),
    )


def categorical_drift(
    reference: Sequence[Any],
    current: Sequence[Any],
    *,
    name: str = "category",
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of a categorical feature (values compared as strings; new categories count).

    Examples
    --------
    >>> d = categorical_drift(["a", "b"] * 50, ["a"] * 100)
    >>> round(d.js, 4), d.severity
    (0.5579, 'major')
    """
    t = thresholds or DriftThresholds()
    ref, cur = list(reference), list(current)
    if not ref or not cur:
        raise DataError(f"feature {name!r}: reference or current sample is empty")
    r, c, _ = _categorical_counts(ref, cur)
    p, j = psi(r, c), js_distance(r, c)
    return FeatureDrift(name, "categorical", p, j, t.severity(p, j), len(ref), len(cur))


def _is_numeric(values: Any) -> bool:
    arr = np.asarray(values)
    return arr.dtype.kind in "biuf"


def detect_drift(
    reference: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    *,
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Drift of every feature in ``reference`` (numeric or categorical by dtype).

    Parameters
    ----------
    reference, current : mapping of feature name to 1-D values
        ``current`` must hold every key of ``reference``.

    Examples
    --------
    >>> r = detect_drift({"plan": ["a", "b"] * 10}, {"plan": ["a", "b"] * 10})
    >>> r.severity
    'none'
    """
    t = thresholds or DriftThresholds()
    out = []
    for key, ref in reference.items():
        if key not in current:
            raise DataError(f"current sample lacks feature {key!r}; has {sorted(current)}")
        if _is_numeric(ref) and _is_numeric(current[key]):
            out.append(numeric_drift(ref, current[key], name=key, n_bins=n_bins, thresholds=t))
        else:
            seq_r, seq_c = list(np.asarray(ref).ravel()), list(np.asarray(current[key]).ravel())
            out.append(categorical_drift(seq_r, seq_c, name=key, thresholds=t))
    return DriftReport(tuple(out), t)


def prediction_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    name: str = "prediction",
    n_bins: int = 10,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Drift of the model's outputs: numeric scores binned, labels as categories.

    Examples
    --------
    >>> prediction_drift(["pos", "neg"] * 50, ["pos"] * 90 + ["neg"] * 10).severity
    'major'
    """
    if _is_numeric(reference) and _is_numeric(current):
        return numeric_drift(reference, current, name=name, n_bins=n_bins, thresholds=thresholds)
    return categorical_drift(
        list(np.asarray(reference).ravel()),
        list(np.asarray(current).ravel()),
        name=name,
        thresholds=thresholds,
    )
