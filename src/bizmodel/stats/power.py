"""Power, sample size and minimum detectable effect (normal approximation).

For an absolute effect ``δ``, per-unit variances ``σ²_C`` and ``σ²_T``, ``n_T = r n_C`` and
``z_a = Φ⁻¹(1 − α/2)`` (two-sided) or ``Φ⁻¹(1 − α)`` (one-sided):

    n_C   = (z_a + z_β)² (σ²_C + σ²_T / r) / δ²             (sample size, β = 1 − power)
    power = Φ(|δ| / se − z_a) [+ Φ(−|δ| / se − z_a) two-sided],  se² = σ²_C/n_C + σ²_T/n_T
    MDE   = the δ at which power reaches the target (closed form when σ_T = σ_C).

A relative effect ``δ_rel`` is ``δ = δ_rel |μ_C|``. For a proportion ``p`` the variances are
``p(1 − p)`` in control and ``p_T(1 − p_T)`` in treatment. With more than two arms a
Bonferroni split of α over the ``arms − 1`` comparisons keeps the family-wise error.
These are the formulas of ``statsmodels.stats.power.NormalIndPower`` when ``σ_T = σ_C``.

Examples
--------
>>> r = sample_size(baseline_mean=0.10, mde=0.10, proportion=True)
>>> r.n_per_arm
14749
>>> round(minimum_detectable_effect(14749, baseline_mean=0.10, proportion=True).mde, 4)
0.1
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bizmodel.errors import ConfigError
from bizmodel.stats.distributions import norm_cdf, norm_ppf
from bizmodel.stats.frequentist import check_alpha, check_alternative

__all__ = ["PowerResult", "minimum_detectable_effect", "power", "sample_size"]


@dataclass(frozen=True)
class PowerResult:
    """A power calculation: the inputs and what was solved for."""

    n_per_arm: int  # units in the control arm (treatment arms get ratio × this)
    n_total: int
    mde: float  # on the scale given by `relative`
    relative: bool
    power: float
    alpha: float
    alternative: str
    arms: int
    baseline_mean: float
    baseline_sd: float
    proportion: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        kind = "relative" if self.relative else "absolute"
        lines = [
            "Power analysis (normal approximation)",
            f"  baseline mean      {self.baseline_mean:.6g}"
            + ("  (proportion)" if self.proportion else f"  sd {self.baseline_sd:.6g}"),
            f"  effect ({kind})  {self.mde:.6g}",
            f"  alpha              {self.alpha:g} ({self.alternative}), arms {self.arms}",
            f"  power              {self.power:.4f}",
            f"  units per arm      {self.n_per_arm}",
            f"  units in total     {self.n_total}",
        ]
        return "\n".join(lines)


def _variances(
    mean: float, sd: float | None, proportion: bool, delta: float
) -> tuple[float, float]:
    if proportion:
        pt = mean + delta
        if not 0 < mean < 1:
            raise ConfigError(f"a baseline proportion must lie in (0, 1), got {mean}")
        if not 0 <= pt <= 1:
            raise ConfigError(f"treatment proportion {pt:g} = baseline + effect is outside [0, 1]")
        return mean * (1 - mean), pt * (1 - pt)
    if sd is None or not sd > 0:
        raise ConfigError(f"baseline_sd must be > 0 for a mean metric, got {sd}")
    return sd**2, sd**2


def _z_alpha(alpha: float, alternative: str, arms: int) -> float:
    check_alpha(alpha)
    check_alternative(alternative)
    if arms < 2:
        raise ConfigError(f"arms must be ≥ 2 (control + treatments), got {arms}")
    a = alpha / (arms - 1)
    return norm_ppf(1 - a / 2 if alternative == "two-sided" else 1 - a)


def _z_power(power: float) -> float:
    if not 0 < power < 1:
        raise ConfigError(f"power must lie in (0, 1), got {power}")
    return norm_ppf(power)


def _delta(mde: float, relative: bool, mean: float) -> float:
    if mde == 0:
        raise ConfigError("the effect must be non-zero")
    if relative and mean == 0:
        raise ConfigError("a relative effect needs a non-zero baseline mean")
    return mde * abs(mean) if relative else mde


def _power(
    delta: float, n_c: float, ratio: float, vc: float, vt: float, za: float, two: bool
) -> float:
    se = math.sqrt(vc / n_c + vt / (ratio * n_c))
    p = norm_cdf(abs(delta) / se - za)
    return p + norm_cdf(-abs(delta) / se - za) if two else p


def power(
    n_per_arm: int,
    mde: float,
    baseline_mean: float,
    baseline_sd: float | None = None,
    *,
    proportion: bool = False,
    relative: bool = True,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    arms: int = 2,
) -> PowerResult:
    """Power to detect ``mde`` with ``n_per_arm`` control units (module docstring)."""
    za = _z_alpha(alpha, alternative, arms)
    d = _delta(mde, relative, baseline_mean)
    vc, vt = _variances(baseline_mean, baseline_sd, proportion, d)
    pw = _power(d, n_per_arm, ratio, vc, vt, za, alternative == "two-sided")
    n_tot = n_per_arm + round(ratio * n_per_arm) * (arms - 1)
    sd = math.sqrt(vc)
    return PowerResult(
        n_per_arm, n_tot, mde, relative, pw, alpha, alternative, arms, baseline_mean, sd, proportion
    )


def sample_size(
    mde: float,
    baseline_mean: float,
    baseline_sd: float | None = None,
    *,
    proportion: bool = False,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    arms: int = 2,
) -> PowerResult:
    """Units per arm to detect ``mde`` with the given power (rounded up)."""
    zb = _z_power(power)
    za = _z_alpha(alpha, alternative, arms)
    d = _delta(mde, relative, baseline_mean)
    vc, vt = _variances(baseline_mean, baseline_sd, proportion, d)
    n = math.ceil((za + zb) ** 2 * (vc + vt / ratio) / d**2 - 1e-9)
    n_tot = n + math.ceil(ratio * n) * (arms - 1)
    return PowerResult(
        n,
        n_tot,
        mde,
        relative,
        power,
        alpha,
        alternative,
        arms,
        baseline_mean,
        math.sqrt(vc),
        proportion,
    )


def minimum_detectable_effect(
    n_per_arm: int,
    baseline_mean: float,
    baseline_sd: float | None = None,
    *,
    proportion: bool = False,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    arms: int = 2,
) -> PowerResult:
    """Smallest positive effect detectable with ``n_per_arm`` control units at ``power``."""
    zb = _z_power(power)
    if n_per_arm < 2:
        raise ConfigError(f"n_per_arm must be ≥ 2, got {n_per_arm}")
    za = _z_alpha(alpha, alternative, arms)
    from scipy import optimize  # only here: importing it costs every A/B analysis 0.2 s

    two = alternative == "two-sided"
    scale = abs(baseline_mean) if relative else 1.0
    if relative and baseline_mean == 0:
        raise ConfigError("a relative effect needs a non-zero baseline mean")
    upper = (1 - baseline_mean) if proportion else math.inf

    def gap(d: float) -> float:
        vc, vt = _variances(baseline_mean, baseline_sd, proportion, d)
        return _power(d, n_per_arm, ratio, vc, vt, za, two) - power

    if not proportion:
        vc, _ = _variances(baseline_mean, baseline_sd, False, 1.0)
        d = (za + zb) * math.sqrt(vc / n_per_arm + vc / (ratio * n_per_arm))
        if two:  # include the far tail exactly
            d = optimize.brentq(gap, d * 0.5, d * 1.5, xtol=1e-14)
    else:
        if gap(upper) < 0:
            raise ConfigError(f"no effect up to p = 1 reaches power {power} with n={n_per_arm}")
        d = optimize.brentq(gap, 1e-12, upper, xtol=1e-14)
    n_tot = n_per_arm + round(ratio * n_per_arm) * (arms - 1)
    sd = math.sqrt(_variances(baseline_mean, baseline_sd, proportion, 0.0)[0])
    return PowerResult(
        n_per_arm,
        n_tot,
        d / scale,
        relative,
        power,
        alpha,
        alternative,
        arms,
        baseline_mean,
        sd,
        proportion,
    )
