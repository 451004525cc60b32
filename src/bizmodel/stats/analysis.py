"""A/B analysis from sufficient statistics: every arm against control, one engine.

This is the function the DataFrame entry point (:func:`bizmodel.stats.analyze_units`) and
warehouse queries both end in. Conventions follow GrowthBook's gbstats: one CUPED θ pooled
over control and the arm being compared; relative lift over the unadjusted control mean;
SRM chi-square against the planned split; p-values of several arms corrected (Holm by
default, or Benjamini–Hochberg). ``convention="gbstats"`` reproduces GrowthBook's numbers
where bizmodel's formulas differ (docs/statistics.md lists each difference); in both
conventions, sums that imply a negative variance are an error, never clipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from bizmodel.errors import ConfigError, DataError
from bizmodel.stats.bayesian import BayesianResult, GaussianPrior, bayesian_test
from bizmodel.stats.corrections import adjust_p_values
from bizmodel.stats.effects import Convention, check_convention, effect_moments
from bizmodel.stats.frequentist import (
    DEFAULT_N_STAR,
    Alternative,
    FrequentistResult,
    check_alpha,
    check_alternative,
    fixed_horizon_test,
    sequential_test,
)
from bizmodel.stats.result import ABTestResult, ArmSummary, Comparison
from bizmodel.stats.srm import srm_check
from bizmodel.stats.statistics import (
    ArmStatistic,
    CupedMeanStatistic,
    CupedProportionStatistic,
    CupedRatioStatistic,
    ProportionStatistic,
    RatioStatistic,
    negative_variance,
    pooled_theta,
)

__all__ = ["analyze"]

Engine = Literal["frequentist", "bayesian"]


def _metric_type(stat: ArmStatistic) -> str:
    if isinstance(stat, CupedRatioStatistic):
        return "ratio (CUPED)"
    if isinstance(stat, CupedProportionStatistic):
        return "proportion (CUPED)"
    if isinstance(stat, CupedMeanStatistic):
        return "mean (CUPED)"
    if isinstance(stat, RatioStatistic):
        return "ratio"
    if isinstance(stat, ProportionStatistic):
        return "proportion"
    return "mean"


def analyze(
    stats: Mapping[str, ArmStatistic],
    *,
    control: str | None = None,
    metric: str = "metric",
    engine: Engine = "frequentist",
    sequential: bool = False,
    relative: bool = True,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
    prior: GaussianPrior | None = None,
    correction: str = "holm",
    planned_split: Sequence[float] | None = None,
    n_star: float = DEFAULT_N_STAR,
    lower_is_better: bool = False,
    srm_threshold: float = 0.001,
    covariate: str | None = None,
    warnings: Sequence[str] = (),
    data_quality: Mapping[str, int] | None = None,
    convention: Convention = "bizmodel",
) -> ABTestResult:
    """Compare every arm in ``stats`` with ``control`` (the first arm when not given).

    Parameters
    ----------
    stats : mapping of arm name to sufficient statistic
        All arms must hold the same kind of statistic.
    engine : {"frequentist", "bayesian"}
        ``sequential=True`` (frequentist only) gives always-valid confidence sequences.
    relative : bool
        Relative lift ``(m_T − m_C)/|m_C|`` (default) or absolute ``m_T − m_C``.
    correction : {"holm", "bh", "none"}
        Adjustment of p-values when there are several treatment arms.
    planned_split : sequence of float, optional
        Planned traffic weights in the order of ``stats`` (equal by default), for SRM.
    convention : {"bizmodel", "gbstats"}
        ``gbstats`` uses GrowthBook's formulas where they differ from bizmodel's (CUPED
        relative-lift variance, sign of a negative control mean, one-sided sequential
        p-values, a proper prior rescaled for an absolute lift); see docs/statistics.md.

    Raises
    ------
    DataError
        When an arm's sums imply a negative variance (e.g. ``Σy² < (Σy)²/n``), naming the
        arm and the sums; when an arm has no units; when no interval is possible.

    Examples
    --------
    >>> from bizmodel.stats.statistics import ProportionStatistic as P
    >>> r = analyze({"A": P(1000, 100), "B": P(1000, 130)})
    >>> c = r.comparison("B")
    >>> round(c.estimate, 3), round(c.p_value, 4)
    (0.3, 0.0656)
    """
    check_alpha(alpha)
    check_alternative(alternative)
    check_convention(convention)
    if engine not in ("frequentist", "bayesian"):
        raise ConfigError(f"engine must be 'frequentist' or 'bayesian', got {engine!r}")
    if sequential and engine != "frequentist":
        raise ConfigError("sequential testing is a frequentist method; use engine='frequentist'")
    names = list(stats)
    if len(names) < 2:
        raise DataError(f"{metric}: an A/B test needs at least 2 arms, got {len(names)}: {names}")
    control = names[0] if control is None else control
    if control not in stats:
        raise DataError(f"{metric}: control arm {control!r} not found; arms are {names}")
    kinds = {type(s) for s in stats.values()}
    if len(kinds) > 1:
        raise DataError(
            f"{metric}: all arms must hold the same kind of statistic, got "
            f"{sorted(k.__name__ for k in kinds)}"
        )
    for name, s in stats.items():
        if s.n == 0:
            raise DataError(
                f"{metric}: arm {name!r} has 0 units; remove it from the analysis or check "
                "the assignment logs"
            )
        if (report := negative_variance(s)) is not None:
            raise DataError(
                f"{metric}: arm {name!r} has sums that imply a negative variance: {report} "
                f"(n = {s.n}); real data cannot give that, check the query that produced them"
            )
    extra = list(warnings)
    comparisons = []
    c_stat = stats[control]
    for name in names:
        if name == control:
            continue
        t_stat = stats[name]
        theta = pooled_theta(c_stat, t_stat)
        cm, tm = c_stat.moments(theta), t_stat.moments(theta)
        if cm.var == 0 and tm.var == 0:
            raise DataError(
                f"{metric}: zero variance in both arms {control!r} (mean {cm.mean:g}) and "
                f"{name!r} (mean {tm.mean:g}); the metric is constant, so no test is possible"
            )
        for arm_name, m in ((control, cm), (name, tm)):
            if m.var == 0:
                msg = f"arm {arm_name!r} has zero variance in {metric!r} (constant {m.mean:g})"
                if msg not in extra:
                    extra.append(msg)
        eff = effect_moments(cm, tm, relative, metric=metric, convention=convention)
        if not eff.variance > 0:
            # e.g. a treatment constant at 0: the delta-method variance of the relative lift
            # collapses to 0, and an interval of width 0 would be a silent wrong number
            raise DataError(
                f"{metric}: the {'relative' if relative else 'absolute'} lift of {name!r} over "
                f"{control!r} has zero variance (means {tm.mean:g} and {cm.mean:g}); no "
                "interval is possible" + ("; use the absolute lift" if relative else "")
            )
        common: dict[str, Any] = {
            "arm": name,
            "control": control,
            "theta": theta,
            "mean_control": cm.mean,
            "mean_treatment": tm.mean,
        }
        r: BayesianResult | FrequentistResult
        engine_fields: dict[str, Any]
        if engine == "bayesian":
            r = b = bayesian_test(
                eff,
                _effect_prior(prior, relative, convention, cm.mean_unadjusted, metric),
                alpha,
                lower_is_better,
            )
            engine_fields = {
                "chance_to_win": b.chance_to_win,
                "risk_control": b.risk_control,
                "risk_treatment": b.risk_treatment,
            }
        else:
            r = f = (
                sequential_test(eff, alpha, alternative, n_star, convention)
                if sequential
                else fixed_horizon_test(eff, alpha, alternative)
            )
            engine_fields = {"p_value": f.p_value, "dof": f.dof}
        comparisons.append(
            Comparison(
                estimate=r.estimate,
                se=r.se,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                **engine_fields,
                **common,
            )
        )
    if engine == "frequentist":
        adj = adjust_p_values([c.p_value for c in comparisons], correction)
        comparisons = [_replace_p(c, p) for c, p in zip(comparisons, adj, strict=True)]
        if len(comparisons) > 1 and correction != "none":
            extra.append(
                f"{len(comparisons)} arms against control: p-values adjusted by {correction}"
                " (p-adj); intervals are not adjusted"
            )
    srm = srm_check([stats[n].n for n in names], planned_split, srm_threshold)
    if srm.flagged:
        extra.append(
            f"sample ratio mismatch: units {[stats[n].n for n in names]} vs planned split "
            f"{[round(w, 4) for w in srm.expected_weights]} (chi2 {srm.chi2:.2f}, "
            f"p {srm.p_value:.2g} < {srm_threshold:g})"
        )
    arms = tuple(ArmSummary(n, stats[n].n, float(stats[n].mean), _sd(stats[n])) for n in names)
    prior_d = None
    if engine == "bayesian":
        p = prior or GaussianPrior()
        prior_d = {"mean": p.mean, "variance": p.variance, "proper": p.proper}
    return ABTestResult(
        metric=metric,
        metric_type=_metric_type(c_stat),
        engine="sequential" if sequential else engine,
        relative=relative,
        alternative=alternative if engine == "frequentist" else "two-sided",
        alpha=alpha,
        control=control,
        arms=arms,
        comparisons=tuple(comparisons),
        srm=srm,
        correction=correction if engine == "frequentist" else "none",
        covariate=covariate,
        n_star=n_star if sequential else None,
        prior=prior_d,
        warnings=tuple(extra),
        data_quality=dict(data_quality or {}),
        convention=convention,
    )


def _effect_prior(
    prior: GaussianPrior | None, relative: bool, convention: str, u: float, metric: str
) -> GaussianPrior | None:
    """The prior on the scale of the effect. gbstats states a proper prior on the relative
    lift and, for an absolute lift, rescales it by the control mean: mean ``μ₀|u|``, variance
    ``v₀u²``; bizmodel takes the prior on the scale of the lift analysed."""
    if convention != "gbstats" or relative or prior is None or not prior.proper:
        return prior
    if u == 0:
        raise DataError(
            f"{metric}: the control mean is 0, so gbstats' relative prior cannot be rescaled "
            "to the absolute lift; use convention='bizmodel' (prior on the absolute lift)"
        )
    return GaussianPrior(prior.mean * abs(u), prior.variance * u**2, proper=True)


def _sd(stat: ArmStatistic) -> float:
    return math.sqrt(stat.moments(0.0).var_unadjusted)


def _replace_p(c: Comparison, p: float) -> Comparison:
    return replace(c, p_value_adjusted=p)
