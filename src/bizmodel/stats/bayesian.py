"""Bayesian engine: a Gaussian model for the effect (gbstats ``EffectBayesianABTest``).

The data give ``Δ̂ ~ N(Δ, v)`` (``v`` the variance from :mod:`bizmodel.stats.effects`). With a
flat (improper) prior the posterior is ``N(Δ̂, v)``; with a proper prior ``N(μ₀, v₀)`` it is
``N(μ₁, v₁)``, ``1/v₁ = 1/v + 1/v₀``, ``μ₁ = v₁ (Δ̂/v + μ₀/v₀)``.

* chance to win ``P(Δ > 0) = Φ(μ₁/σ₁)`` (``P(Δ < 0)`` when lower is better);
* credible interval ``μ₁ ± Φ⁻¹(1 − α/2) σ₁``;
* risk (expected loss) of shipping an arm: treatment ``E[max(−Δ, 0)]``, control
  ``E[max(Δ, 0)]``, with ``E[max(X, 0)] = μΦ(μ/σ) + σφ(μ/σ)`` for ``X ~ N(μ, σ²)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bizmodel.errors import ConfigError
from bizmodel.stats.distributions import norm_cdf, norm_pdf, norm_ppf, norm_sf
from bizmodel.stats.effects import EffectMoments

__all__ = ["BayesianResult", "GaussianPrior", "bayesian_test", "expected_positive_part"]


@dataclass(frozen=True)
class GaussianPrior:
    """Prior on the effect (on the scale of the effect: relative or absolute).

    ``proper=False`` (the default) is the flat improper prior; ``mean`` and ``variance`` are
    then ignored. The defaults otherwise are GrowthBook's: mean 0, standard deviation 0.3 (on
    the relative lift).
    """

    mean: float = 0.0
    variance: float = 0.09
    proper: bool = False

    def __post_init__(self) -> None:
        if self.proper and not self.variance > 0:
            raise ConfigError(f"a proper prior needs variance > 0, got {self.variance}")


@dataclass(frozen=True)
class BayesianResult:
    """Posterior of the effect and the decision quantities derived from it."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    risk_control: float
    risk_treatment: float


def expected_positive_part(mu: float, sigma: float) -> float:
    """``E[max(X, 0)]`` for ``X ~ N(mu, sigma²)``: ``μΦ(μ/σ) + σφ(μ/σ)``.

    Examples
    --------
    >>> round(expected_positive_part(0.0, 1.0), 6)  # 1/√(2π)
    0.398942
    """
    if sigma == 0:
        return max(mu, 0.0)
    z = mu / sigma
    return float(mu * norm_cdf(z) + sigma * norm_pdf(z))


def bayesian_test(
    effect: EffectMoments,
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
    lower_is_better: bool = False,
) -> BayesianResult:
    """Posterior of the effect and chance to win / risk (formulas in the module docstring).

    Examples
    --------
    >>> from bizmodel.stats.effects import EffectMoments
    >>> r = bayesian_test(EffectMoments(0.1, 0.0025, 1e9, True, 1000))
    >>> round(r.chance_to_win, 4), round(r.ci_low, 4), round(r.ci_high, 4)
    (0.9772, 0.002, 0.198)
    """
    prior = prior or GaussianPrior()
    v = effect.variance
    if v == 0:
        est = effect.estimate
        nan = math.nan
        return BayesianResult(est, 0.0, nan, nan, nan, nan, nan)
    if prior.proper:
        v1 = 1.0 / (1.0 / v + 1.0 / prior.variance)
        mu1 = v1 * (effect.estimate / v + prior.mean / prior.variance)
    else:
        v1, mu1 = v, effect.estimate
    s1 = math.sqrt(v1)
    z = norm_ppf(1 - alpha / 2)
    # "win" is the good direction of the effect: up, or down when lower is better.
    sign = -1.0 if lower_is_better else 1.0
    ctw = norm_sf(0.0, loc=sign * mu1, scale=s1)
    gain = expected_positive_part(sign * mu1, s1)  # lost by keeping control
    loss = expected_positive_part(-sign * mu1, s1)  # lost by shipping treatment
    return BayesianResult(mu1, s1, mu1 - z * s1, mu1 + z * s1, ctw, gain, loss)
