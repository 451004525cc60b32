"""Distances between two discrete distributions, and the binning that turns samples into them.

* **PSI** (population stability index) over bins ``i`` with reference and current shares
  ``r_i`` and ``c_i``::

      PSI = Σ_i (c_i - r_i) · ln(c_i / r_i)

* **Jensen-Shannon distance** (base 2, in [0, 1]) with ``m = (r + c) / 2``::

      JS(r, c) = sqrt( KL(r || m) / 2 + KL(c || m) / 2 )

Numeric samples are binned at quantiles of the *reference*; categorical ones by category.
:mod:`bizmodel.monitor.drift` turns these distances into severities.

Examples
--------
>>> psi([0.5, 0.5], [0.5, 0.5]), js_distance([1, 0], [1, 0])
(0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bizmodel.errors import ConfigError, DataError

__all__ = ["js_distance", "psi", "quantile_edges"]


def _as_probs(p: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name}: expected a non-empty 1-D array of shares, got shape {arr.shape}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: shares must be finite and >= 0")
    total = arr.sum()
    if total <= 0:
        raise DataError(f"{name}: shares sum to {total}; need a positive total")
    return arr / total


def psi(reference: ArrayLike, current: ArrayLike, *, eps: float = 1e-4) -> float:
    """Population stability index of two binned distributions.

    ``PSI = Σ_i (c_i - r_i) · ln(c_i / r_i)`` after normalising counts to shares and clipping
    each share to at least ``eps`` (so an empty bin costs a finite amount).

    Parameters
    ----------
    reference, current : array_like
        Counts or shares per bin, same length.
    eps : float
        Floor for shares before the logarithm.

    Examples
    --------
    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 6)
    0.274653
    """
    r, c = _as_probs(reference, "reference"), _as_probs(current, "current")
    if r.shape != c.shape:
        raise DataError(f"psi: reference has {r.size} bins, current has {c.size}; need equal")
    r, c = np.clip(r, eps, None), np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two binned distributions.

    ``JS = sqrt(KL(r||m)/2 + KL(c||m)/2)`` with ``m = (r + c)/2``; equals
    ``scipy.spatial.distance.jensenshannon(r, c, base=2)``.

    Examples
    --------
    >>> js_distance([1, 0], [0, 1])
    1.0
    >>> js_distance([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    r, c = _as_probs(reference, "reference"), _as_probs(current, "current")
    if r.shape != c.shape:
        raise DataError(f"js_distance: reference has {r.size} bins, current has {c.size}")
    m = (r + c) / 2

    def kl(p: NDArray[np.float64]) -> float:
        mask = (p > 0) & (m > 0)  # m underflows to 0 only for subnormal p
        return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))

    return float(np.sqrt(max(0.0, (kl(r) + kl(c)) / 2)))


# ----------------------------------------------------------------------------- binning


def _finite_1d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"feature {name!r}: values are not numeric ({exc})") from None
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise DataError(f"feature {name!r}: no finite values")
    return arr


def quantile_edges(reference: ArrayLike, n_bins: int = 10) -> NDArray[np.float64]:
    """Bin edges: the reference's quantiles, plus its minimum and maximum as outer edges.

    With edges ``e_0 < ... < e_k`` the bins are ``(-inf, e_0], (e_0, e_1], ..., (e_k, inf)``;
    ``e_0`` sits just below the reference minimum and ``e_k`` is its maximum, so values outside
    the reference's range fall in bins of their own (reference share 0). Ties collapse edges.

    Examples
    --------
    >>> quantile_edges([1, 2, 3, 4], n_bins=2).tolist()
    [0.9999999999999999, 2.5, 4.0]
    >>> quantile_edges([1, 1, 1, 1, 2], n_bins=4).tolist()
    [0.9999999999999999, 1.0, 2.0]
    """
    if n_bins < 2:
        raise ConfigError(f"n_bins must be >= 2, got {n_bins}")
    ref = _finite_1d(reference, "reference")
    qs = np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1])
    lo, hi = ref.min(), ref.max()
    return np.unique(np.concatenate([[np.nextafter(lo, -np.inf)], qs, [hi]]))


def _numeric_counts(
    ref: NDArray[np.float64], cur: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    edges = quantile_edges(ref, n_bins)
    k = edges.size + 1
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=k).astype(float)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=k).astype(float)
    return r, c


def _categorical_counts(
    ref: Sequence[Any], cur: Sequence[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    ref_s, cur_s = [str(v) for v in ref], [str(v) for v in cur]
    cats = sorted(set(ref_s) | set(cur_s))
    index = {c: i for i, c in enumerate(cats)}
    r = np.bincount([index[v] for v in ref_s], minlength=len(cats)).astype(float)
    c = np.bincount([index[v] for v in cur_s], minlength=len(cats)).astype(float)
    return r, c, cats
