"""The result of an A/B analysis: a frozen :class:`ABTestResult` (``summary()``, ``to_dict()``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bizmodel.stats.srm import SRMResult

__all__ = ["ABTestResult", "ArmSummary", "Comparison"]


@dataclass(frozen=True)
class ArmSummary:
    """One arm: units, unadjusted mean and standard deviation of the metric."""

    name: str
    n: int
    mean: float
    sd: float


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against control. Frequentist fields or Bayesian fields are NaN when
    the other engine was used."""

    arm: str
    control: str
    estimate: float  # lift: relative (fraction of |control mean|) or absolute
    se: float
    ci_low: float
    ci_high: float
    p_value: float = math.nan
    p_value_adjusted: float = math.nan
    chance_to_win: float = math.nan
    risk_control: float = math.nan  # expected loss of keeping control
    risk_treatment: float = math.nan  # expected loss of shipping this arm
    dof: float = math.nan
    theta: float = 0.0  # CUPED coefficient (0 without a covariate)
    mean_control: float = math.nan  # (adjusted) control mean used in the estimate
    mean_treatment: float = math.nan

    def significant(self, alpha: float) -> bool:
        p = self.p_value_adjusted if not math.isnan(self.p_value_adjusted) else self.p_value
        return bool(p < alpha)


def _fmt(x: float, pct: bool) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{100 * x:+.2f}%" if pct else f"{x:+.5g}"


@dataclass(frozen=True)
class ABTestResult:
    """Everything an A/B analysis found, including the data-quality warnings.

    ``engine`` is ``frequentist``, ``sequential`` or ``bayesian``. ``warnings`` lists every
    cleaning step that changed the data (with counts) and every flag (SRM, corrections);
    ``data_quality`` holds the same counts as numbers.
    """

    metric: str
    metric_type: str  # mean, proportion, ratio (+ " (CUPED)")
    engine: str
    relative: bool
    alternative: str
    alpha: float
    control: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    srm: SRMResult
    correction: str
    covariate: str | None = None
    n_star: float | None = None
    prior: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    data_quality: dict[str, int] = field(default_factory=dict)
    convention: str = "bizmodel"  # "gbstats": GrowthBook's formulas (docs/statistics.md)

    def comparison(self, arm: str) -> Comparison:
        """The comparison of ``arm`` against control."""
        for c in self.comparisons:
            if c.arm == arm:
                return c
        raise KeyError(f"no comparison for arm {arm!r}; arms: {[c.arm for c in self.comparisons]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (NaN/inf kept as floats; the CLI prints them as null)."""
        return asdict(self)

    def summary(self) -> str:
        """A text table: arms, then one line per comparison, then warnings."""
        pct = self.relative
        kind = "relative" if self.relative else "absolute"
        head = (
            f"A/B test of {self.metric!r} ({self.metric_type}), engine {self.engine}, "
            f"{kind} lift, {self.alternative}, alpha {self.alpha:g}"
        )
        lines = [head]
        if self.convention != "bizmodel":
            lines.append(f"convention: {self.convention}")
        if self.covariate:
            lines.append(f"CUPED covariate: {self.covariate}")
        lines.append(f"{'arm':<20} {'units':>9} {'mean':>12} {'sd':>12}")
        for a in self.arms:
            tag = " (control)" if a.name == self.control else ""
            lines.append(f"{(a.name + tag)[:20]:<20} {a.n:>9} {a.mean:>12.5g} {a.sd:>12.5g}")
        lines.append("")
        bayes = self.engine == "bayesian"
        interval = "credible interval" if bayes else "CI"
        level = f"{100 * (1 - self.alpha):g}% {interval}"
        cols = "chance to win   risk(ship)" if bayes else "  p-value     p-adj"
        lines.append(f"{'arm':<20} {'lift':>10} {level:>26} {cols}")
        for c in self.comparisons:
            ci = f"[{_fmt(c.ci_low, pct)}, {_fmt(c.ci_high, pct)}]"
            if bayes:
                tail = f"{100 * c.chance_to_win:>12.1f}%   {c.risk_treatment:.4g}"
            else:
                tail = f"{c.p_value:>9.4g} {c.p_value_adjusted:>9.4g}"
            lines.append(f"{c.arm[:20]:<20} {_fmt(c.estimate, pct):>10} {ci:>26} {tail}")
        lines.append("")
        lines.append(
            f"SRM check: chi2 {self.srm.chi2:.3f}, p {self.srm.p_value:.4g}"
            + (
                "  ** SAMPLE RATIO MISMATCH: do not trust these lifts **"
                if self.srm.flagged
                else ""
            )
        )
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)
