"""Sample-ratio mismatch (SRM): is the observed split of units the one that was planned?

Pearson's chi-square ``χ² = Σ (oᵢ − eᵢ)² / eᵢ`` with ``eᵢ = N wᵢ`` and ``k − 1`` degrees of
freedom (gbstats ``check_srm``). A p-value below ``threshold`` (default 0.001, GrowthBook's
default) flags the experiment: assignment or logging is broken, and no lift should be trusted.

Examples
--------
>>> r = srm_check([5000, 5000])
>>> r.p_value, r.flagged
(1.0, False)
>>> srm_check([5000, 4600]).flagged
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bizmodel.errors import ConfigError
from bizmodel.stats.distributions import chi2_sf

__all__ = ["SRMResult", "srm_check"]


@dataclass(frozen=True)
class SRMResult:
    """Chi-square statistic, p-value, and whether it is below the threshold."""

    chi2: float
    p_value: float
    flagged: bool
    expected_weights: tuple[float, ...]


def srm_check(
    counts: Sequence[int], weights: Sequence[float] | None = None, threshold: float = 0.001
) -> SRMResult:
    """Chi-square test of ``counts`` against the planned split ``weights`` (equal by default)."""
    k = len(counts)
    w = list(weights) if weights is not None else [1.0] * k
    if len(w) != k:
        raise ConfigError(f"planned split has {len(w)} weights for {k} arms; give one per arm")
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ConfigError(f"planned split weights must be ≥ 0 and sum to > 0, got {w}")
    total_w = sum(w)
    w = [x / total_w for x in w]
    n = sum(counts)
    if k < 2 or n == 0:
        return SRMResult(0.0, 1.0, False, tuple(w))
    chi2 = sum((o - n * wi) ** 2 / (n * wi) for o, wi in zip(counts, w, strict=True) if wi > 0)
    p = chi2_sf(chi2, k - 1)
    return SRMResult(float(chi2), p, p < threshold, tuple(w))
