"""Frequentist engines: fixed-horizon Welch t-test and always-valid confidence sequences.

Fixed horizon (gbstats ``TwoSidedTTest`` / ``OneSidedTreatment{Greater,Lesser}TTest``): with
``t = Δ̂ / se`` and Welch dof ``ν``,

* two-sided: ``p = 2 (1 − F_ν(|t|))``, CI ``Δ̂ ± F_ν⁻¹(1 − α/2) se``;
* ``greater`` (H₁: Δ > 0): ``p = 1 − F_ν(t)``, CI ``[Δ̂ − F_ν⁻¹(1 − α) se, ∞)``;
* ``less`` (H₁: Δ < 0): ``p = F_ν(t)``, CI ``(−∞, Δ̂ + F_ν⁻¹(1 − α) se]``.

Sequential (gbstats ``SequentialTwoSidedTTest``; Waudby-Smith et al. 2023, "Time-uniform
central limit theory and asymptotic confidence sequences", eq. 9 and 161): with ``N`` the
units in both arms, ``s² = N se²`` and tuning parameter ``N*`` (default 5000),

    ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*
    halfwidth = √s² · √( 2 (Nρ² + 1) ln(√(Nρ² + 1) / α) / (Nρ)² )

The interval is valid at every look, so people may peek. The always-valid p-value is the
smallest α whose confidence sequence excludes 0. One-sided sequences use the two-sided
sequence at ``2α`` on the side that matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, stats

from bizmodel.errors import ConfigError
from bizmodel.stats.effects import EffectMoments

__all__ = [
    "Alternative",
    "FrequentistResult",
    "fixed_horizon_test",
    "sequential_halfwidth",
    "sequential_test",
]

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES = ("two-sided", "greater", "less")
DEFAULT_N_STAR = 5000.0


@dataclass(frozen=True)
class FrequentistResult:
    """Estimate, interval and p-value of one comparison."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    dof: float


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")


def check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ConfigError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
        )


def fixed_horizon_test(
    effect: EffectMoments, alpha: float = 0.05, alternative: Alternative = "two-sided"
) -> FrequentistResult:
    """Welch t-test of ``H₀: Δ = 0`` (formulas in the module docstring).

    Examples
    --------
    >>> from bizmodel.stats.effects import EffectMoments
    >>> r = fixed_horizon_test(EffectMoments(0.2, 0.01, 1e9, False, 1000))
    >>> round(r.ci_low, 4), round(r.ci_high, 4), round(r.p_value, 4)
    (0.004, 0.396, 0.0455)
    """
    check_alpha(alpha)
    check_alternative(alternative)
    est, se, dof = effect.estimate, effect.se, effect.dof
    if se == 0 or not math.isfinite(dof):
        return FrequentistResult(est, se, math.nan, math.nan, math.nan, dof)
    t = est / se
    dist = stats.t(dof)
    if alternative == "two-sided":
        w = float(dist.ppf(1 - alpha / 2)) * se
        return FrequentistResult(est, se, est - w, est + w, float(2 * dist.sf(abs(t))), dof)
    w = float(dist.ppf(1 - alpha)) * se
    if alternative == "greater":
        return FrequentistResult(est, se, est - w, math.inf, float(dist.sf(t)), dof)
    return FrequentistResult(est, se, -math.inf, est + w, float(dist.cdf(t)), dof)


def sequential_halfwidth(se: float, n: int, alpha: float, n_star: float = DEFAULT_N_STAR) -> float:
    """Half-width of the two-sided asymptotic confidence sequence (module docstring).

    Examples
    --------
    >>> round(sequential_halfwidth(0.1, 5000, 0.05), 6)
    0.303521
    """
    check_alpha(alpha)
    if n_star <= 0:
        raise ConfigError(f"the sequential tuning parameter N* must be > 0, got {n_star}")
    la = -2 * math.log(alpha)
    rho2 = (la + math.log(la + 1)) / n_star
    s2 = se**2 * n
    nr = n * rho2 + 1
    return math.sqrt(s2) * math.sqrt(2 * nr * math.log(math.sqrt(nr) / alpha) / (n**2 * rho2))


def sequential_test(
    effect: EffectMoments,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    n_star: float = DEFAULT_N_STAR,
) -> FrequentistResult:
    """Always-valid confidence sequence and p-value (module docstring).

    Examples
    --------
    >>> from bizmodel.stats.effects import EffectMoments
    >>> r = sequential_test(EffectMoments(0.4, 0.01, 1e9, False, 5000))
    >>> round(r.ci_low, 4), round(r.ci_high, 4), r.p_value < 0.05
    (0.0965, 0.7035, True)
    """
    check_alpha(alpha)
    check_alternative(alternative)
    est, se, n = effect.estimate, effect.se, effect.n_total
    if se == 0:
        return FrequentistResult(est, se, math.nan, math.nan, math.nan, effect.dof)
    if alternative == "two-sided":
        w = sequential_halfwidth(se, n, alpha, n_star)
        lo, hi = est - w, est + w
        target = abs(est)
        scale = 1.0
    else:
        w = sequential_halfwidth(se, n, 2 * alpha, n_star) if 2 * alpha < 1 else 0.0
        lo, hi = (est - w, math.inf) if alternative == "greater" else (-math.inf, est + w)
        target = est if alternative == "greater" else -est
        scale = 2.0  # one-sided level a is the two-sided sequence at 2a
    p = _always_valid_p(target, se, n, n_star) / scale if target > 0 else 1.0
    return FrequentistResult(est, se, lo, hi, min(p, 1.0), effect.dof)


def _always_valid_p(target: float, se: float, n: int, n_star: float) -> float:
    # halfwidth decreases as alpha grows; find alpha with halfwidth == |estimate|.
    def gap(log_a: float) -> float:
        return sequential_halfwidth(se, n, math.exp(log_a), n_star) - target

    hi = math.log(1 - 1e-12)
    if gap(hi) > 0:
        return 1.0
    lo = -745.0
    if gap(lo) < 0:
        return 0.0
    return math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12))
