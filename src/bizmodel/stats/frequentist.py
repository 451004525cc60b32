"""Frequentist engines: fixed-horizon Welch t-test and always-valid confidence sequences.

Fixed horizon (gbstats ``TwoSidedTTest`` / ``OneSidedTreatment{Greater,Lesser}TTest``): with
``t = Δ̂ / se`` and Welch dof ``ν``,

* two-sided: ``p = 2 (1 − F_ν(|t|))``, CI ``Δ̂ ± F_ν⁻¹(1 − α/2) se``;
* ``greater`` (H₁: Δ > 0): ``p = 1 − F_ν(t)``, CI ``[Δ̂ − F_ν⁻¹(1 − α) se, ∞)``;
* ``less`` (H₁: Δ < 0): ``p = F_ν(t)``, CI ``(−∞, Δ̂ + F_ν⁻¹(1 − α) se]``.

Sequential (gbstats ``SequentialTwoSidedTTest`` and ``SequentialOneSidedTreatment*TTest``;
Waudby-Smith et al. 2023, "Time-uniform central limit theory and asymptotic confidence
sequences", eq. 9 and 161): with ``N`` the units in both arms, ``s² = N se²`` and tuning
parameter ``N*`` (default 5000),

    ρ² = (−2 ln a + ln(−2 ln a + 1)) / N*      a = α two-sided, a = 2α one-sided
    two-sided halfwidth  = √( s² · 2 (Nρ² + 1)/(Nρ)² · ln(√(Nρ² + 1) / α) )
    one-sided halfwidth  = √( s² · 2 (Nρ² + 1)/(Nρ)² · ln(1 + √(Nρ² + 1) / (2α)) )

The interval is valid at every look, so people may peek. The always-valid p-value is the
smallest α' whose sequence (ρ kept at the configured α, as gbstats does in its bisection)
excludes 0, here in closed form: with ``L = Δ̂² (Nρ)² / (2 s² (Nρ² + 1))``,
``p = √(Nρ² + 1) e^(−L)`` two-sided and ``p = √(Nρ² + 1) / (2 (e^L − 1))`` one-sided
(capped at 1; 1 when the estimate points the other way).

With ``convention="gbstats"`` the one-sided sequential p-value is GrowthBook's instead: a
bisection over α in ``[1e-5, 0.4999]`` (ρ fixed) that stops once the interval's finite end is
within 1e-6 of 0, returning 1e-5 when the interval excludes 0 already at α = 1e-5 and 0.4999
when it includes 0 even at α = 0.4999 (so 0.4999, not 1, when the estimate points the other
way). Everything else is the same in both conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bizmodel.errors import ConfigError
from bizmodel.stats.distributions import t_cdf, t_ppf, t_sf
from bizmodel.stats.effects import Convention, EffectMoments, check_convention

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
    if alternative == "two-sided":
        w = t_ppf(1 - alpha / 2, dof) * se
        return FrequentistResult(est, se, est - w, est + w, 2 * t_sf(abs(t), dof), dof)
    w = t_ppf(1 - alpha, dof) * se
    if alternative == "greater":
        return FrequentistResult(est, se, est - w, math.inf, t_sf(t, dof), dof)
    return FrequentistResult(est, se, -math.inf, est + w, t_cdf(t, dof), dof)


def sequential_rho(alpha: float, n_star: float = DEFAULT_N_STAR, two_sided: bool = True) -> float:
    """Mixing parameter ρ of the confidence sequence (Waudby-Smith et al. eq. 161)."""
    check_alpha(alpha)
    if n_star <= 0:
        raise ConfigError(f"the sequential tuning parameter N* must be > 0, got {n_star}")
    a = alpha if two_sided else 2 * alpha
    if not 0 < a < 1:
        raise ConfigError(f"a one-sided sequential test needs alpha < 0.5, got {alpha}")
    la = -2 * math.log(a)
    return math.sqrt((la + math.log(la + 1)) / n_star)


def _shape(se: float, n: int, rho: float) -> tuple[float, float]:
    # s² · 2 (Nρ² + 1)/(Nρ)² and √(Nρ² + 1)
    nr = n * rho**2 + 1
    return se**2 * n * 2 * nr / (n * rho) ** 2, math.sqrt(nr)


def sequential_halfwidth(
    se: float,
    n: int,
    alpha: float,
    n_star: float = DEFAULT_N_STAR,
    rho: float | None = None,
    two_sided: bool = True,
) -> float:
    """Half-width of the asymptotic confidence sequence (module docstring).

    Examples
    --------
    >>> round(sequential_halfwidth(0.1, 5000, 0.05), 6)
    0.303521
    """
    check_alpha(alpha)
    r = sequential_rho(alpha, n_star, two_sided) if rho is None else rho
    scale, root = _shape(se, n, r)
    inner = math.log(root / alpha) if two_sided else math.log(1 + root / (2 * alpha))
    return math.sqrt(scale * inner)


def _gbstats_one_sided_p(est: float, se: float, n: int, rho: float, greater: bool) -> float:
    """gbstats' one-sided sequential p-value by bisection (module docstring); NaN when the
    bisection does not converge in 100 steps, as gbstats reports no p-value then."""
    lo_alpha, hi_alpha, tol = 1e-5, 0.4999, 1e-6

    def bound(a: float) -> float:  # the finite end of the one-sided sequence at level a
        w = sequential_halfwidth(se, n, a, rho=rho, two_sided=False)
        return est - w if greater else est + w

    # ties (an end exactly at 0) go the way gbstats sends them
    if (bound(lo_alpha) > 0) if greater else (bound(lo_alpha) < 0):
        return lo_alpha
    if (bound(hi_alpha) < 0) if greater else (bound(hi_alpha) > 0):
        return hi_alpha
    a = 0.5 * (lo_alpha + hi_alpha)
    for _ in range(100):
        b = bound(a)
        if (b < 0) if greater else (b > 0):
            lo_alpha = a  # still includes 0: a larger alpha is needed
        else:
            hi_alpha = a
        a = 0.5 * (lo_alpha + hi_alpha)
        if abs(b) < tol:
            return a
    return math.nan


def sequential_test(
    effect: EffectMoments,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    n_star: float = DEFAULT_N_STAR,
    convention: Convention = "bizmodel",
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
    check_convention(convention)
    est, se, n = effect.estimate, effect.se, effect.n_total
    if se == 0:
        return FrequentistResult(est, se, math.nan, math.nan, math.nan, effect.dof)
    two = alternative == "two-sided"
    rho = sequential_rho(alpha, n_star, two)
    w = sequential_halfwidth(se, n, alpha, n_star, rho, two)
    scale, root = _shape(se, n, rho)
    big_l = est**2 / scale  # the L of the module docstring
    if two:
        lo, hi = est - w, est + w
        p = root * math.exp(-big_l)
    else:
        lo, hi = (est - w, math.inf) if alternative == "greater" else (-math.inf, est + w)
        right_way = est > 0 if alternative == "greater" else est < 0
        if convention == "gbstats":
            p = _gbstats_one_sided_p(est, se, n, rho, alternative == "greater")
        else:
            p = root / (2 * math.expm1(big_l)) if right_way and big_l > 0 else 1.0
    return FrequentistResult(est, se, lo, hi, min(p, 1.0), effect.dof)
