"""The treatment effect of one arm against control: estimate, variance, degrees of freedom.

Absolute lift ``Δ = m_T − m_C`` has variance ``V_T + V_C`` with ``V = σ²/n`` per arm.

Relative lift ``Δ_rel = (m_T − m_C) / |u_C|``, where ``u_C`` is the *unadjusted* control
mean (equal to ``m_C`` without CUPED; gbstats divides by the unadjusted control mean too), has
delta-method variance ``gᵀ Σ g`` over ``(m_T, m_C, u_C)`` with
``g = (1/|u|, −1/|u|, −(m_T − m_C)·sign(u)/u²)``. Without CUPED this reduces to gbstats'
``σ²_T/(n_T u²) + σ²_C m_T²/(n_C u⁴)``.

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

from bizmodel.errors import DataError
from bizmodel.stats.statistics import ArmMoments

__all__ = ["EffectMoments", "effect_moments", "welch_dof"]


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
    control: ArmMoments, treatment: ArmMoments, relative: bool, *, metric: str = "metric"
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
    vu = control.var_unadjusted / control.n
    cov_au = control.cov / control.n
    g_t, g_c = 1.0 / abs(u), -1.0 / abs(u)
    g_u = -diff * math.copysign(1.0, u) / u**2
    var = g_t**2 * vb + g_c**2 * va + g_u**2 * vu + 2 * g_c * g_u * cov_au
    return EffectMoments(diff / abs(u), max(var, 0.0), dof, True, n)
