"""The treatment effect of one arm against control: estimate, variance, degrees of freedom.

Absolute lift ``Δ = m_T − m_C`` has variance ``V_T + V_C`` with ``V = σ²/n`` per arm.

Relative lift ``Δ_rel = (m_T − m_C) / |u_C|``, where ``u_C`` is the *unadjusted* control
mean (equal to ``m_C`` without CUPED; gbstats divides by the unadjusted control mean too), has
delta-method variance ``gᵀ Σ g`` over ``(m_T, m_C, u_C)`` with
``g = (1/|u|, −1/|u|, −(m_T − m_C)·sign(u)/u²)``. Without CUPED this reduces to gbstats'
``σ²_T/(n_T u²) + σ²_C m_T²/(n_C u⁴)``.

Writing ``V_C = Var(m_C)``, ``U = Var(u_C)``, ``C = Cov(m_C, u_C)`` and ``V_T = Var(m_T)``, that
variance is ``(V_T + V_C + 2δC + δ²U) / u²`` with ``δ`` a lift:

* ``convention="bizmodel"`` (exact delta method): ``δ = (m_T − m_C)/u``, the adjusted lift;
* ``convention="gbstats"`` (GrowthBook ``frequentist_variance_relative_cuped``): for CUPED on
  a mean or proportion ``δ = (ū_T − u)/u``, the *unadjusted* lift, an approximation that
  differs when the arms' pre-period means differ; for CUPED ratios ``δ = (m_T − m_C)/|u|``
  (gbstats ``frequentist_variance_relative_cuped_ratio``). gbstats also divides the estimate
  by the signed ``u`` rather than ``|u|``. Without CUPED and with ``u > 0`` the two agree.

Degrees of freedom are Welch–Satterthwaite: ``(V_T + V_C)² / (V_T²/(n_T−1) + V_C²/(n_C−1))``.

Examples
--------
>>> from bizmodel.stats.statistics import MeanStatistic
>>> a = MeanStatistic(100, 100.0, 200.0).moments()
>>> b = MeanStatistic(100, 110.0, 230.0).moments()
>>> e = effect_moments(a, b, relative=False)
>>> round(e.estimate, 6), round(e.variance, 8)
(0.1, 0.02111111)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bizmodel.errors import ConfigError, DataError
from bizmodel.stats.statistics import ArmMoments

__all__ = [
    "CONVENTIONS",
    "Convention",
    "EffectMoments",
    "check_convention",
    "effect_moments",
    "welch_dof",
]

Convention = Literal["bizmodel", "gbstats"]
CONVENTIONS = ("bizmodel", "gbstats")


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ConfigError(f"convention must be one of {', '.join(CONVENTIONS)}; got {convention!r}")


@dataclass(frozen=True)
class EffectMoments:
    """Estimate of the effect, the variance of that estimate and its Welch dof."""

    estimate: float
    variance: float
    dof: float
    relative: bool
    n_total: int

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def welch_dof(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom from per-unit variances and sizes.

    Examples
    --------
    >>> round(welch_dof(1.0, 10, 1.0, 10), 6)
    18.0
    """
    va, vb = var_a / n_a, var_b / n_b
    denom = (va**2 / (n_a - 1) if n_a > 1 else 0.0) + (vb**2 / (n_b - 1) if n_b > 1 else 0.0)
    if denom <= 0:
        return math.nan
    return (va + vb) ** 2 / denom


def effect_moments(
    control: ArmMoments,
    treatment: ArmMoments,
    relative: bool,
    *,
    metric: str = "metric",
    convention: Convention = "bizmodel",
) -> EffectMoments:
    """Effect of ``treatment`` over ``control`` (formulas in the module docstring).

    Raises
    ------
    DataError
        When an arm has fewer than 2 units, or for a relative lift when the control mean
        is 0.
    """
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise DataError(
                f"{metric}: the {name} arm has {arm.n} unit(s); at least 2 per arm are needed"
            )
    va, vb = control.var / control.n, treatment.var / treatment.n
    diff = treatment.mean - control.mean
    dof = welch_dof(control.var, control.n, treatment.var, treatment.n)
    n = control.n + treatment.n
    if not relative:
        return EffectMoments(diff, va + vb, dof, False, n)
    u = control.mean_unadjusted
    if u == 0:
        raise DataError(
            f"{metric}: the control mean is 0, so the relative lift (m_T − m_C)/|m_C| is "
            "undefined; use the absolute lift instead (relative=False, CLI --absolute)"
        )
    check_convention(convention)
    vu = control.var_unadjusted / control.n
    cov_au = control.cov / control.n
    if convention == "gbstats":
        estimate = diff / u
        ratio = control.cuped == "ratio"
        delta = diff / abs(u) if ratio else (treatment.mean_unadjusted - u) / u
    else:
        estimate, delta = diff / abs(u), diff / u
    var = (vb + va + 2 * delta * cov_au + delta**2 * vu) / u**2
    return EffectMoments(estimate, max(var, 0.0), dof, True, n)
