"""Result objects of the optimizer: frozen, with ``summary()`` and ``to_dict()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _source_lines(levers: Mapping[str, Any], sources: Mapping[str, str]) -> list[str]:
    """Where the chosen choices' numbers came from: ``  model=large: quality 0.845 (...)``."""
    chosen = (f"{k}={v}" for k, v in levers.items() if isinstance(v, str))
    return [f"  {c}: {sources[c]}" for c in chosen if c in sources]


@dataclass(frozen=True)
class RobustnessReport:
    """How the optimum holds up when the growth coefficients are drawn from their covariance.

    ``objective_*`` describe the objective at the returned levers across the draws;
    ``optimum_*`` the objective re-optimised for ``reoptimized`` of the draws (the value one
    could reach if that draw were the truth), and ``lever_std`` the spread of those optimal
    continuous levers.
    """

    mode: str  # "expected" or "quantile=0.1"
    samples: int
    nominal_objective: float  # objective at the returned levers with the fitted coefficients
    objective_mean: float
    objective_std: float
    objective_q05: float
    objective_q95: float
    reoptimized: int
    optimum_mean: float
    optimum_std: float
    optimum_q05: float
    optimum_q95: float
    lever_std: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class SensitivityReport:
    """Derivatives of the optimum with respect to the weights and the growth coefficients.

    ``value_*[p]`` is d(objective at the optimum)/dp (envelope theorem, exact for weights);
    ``levers_*[p][lever]`` is d(lever at the optimum)/dp by re-optimising at p ± h, with the
    discrete choices and the normalisation scales held fixed. Coefficient sensitivities are
    left empty for robust optimisation (the coefficients are then drawn, not fixed).
    """

    value_by_weight: Mapping[str, float]
    levers_by_weight: Mapping[str, Mapping[str, float]]
    value_by_coefficient: Mapping[str, float]
    levers_by_coefficient: Mapping[str, Mapping[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            k: {a: (dict(b) if isinstance(b, Mapping) else b) for a, b in v.items()}
            for k, v in self.__dict__.items()
        }


@dataclass(frozen=True)
class GrowthEffect:
    """A growth coefficient that a recommended lever acts through, and whether the data
    establish it: ``significant`` when its ``1 - alpha`` interval excludes 0 (``p <= alpha``,
    two-sided z-test on the fit's standard error); see :mod:`bizmodel.optimize.effects`."""

    coefficient: str  # the growth feature: a lever, "lever=level" or a choice's constant
    lever: str  # the lever whose recommended value rests on it
    estimate: float
    std_error: float
    p_value: float
    ci_low: float
    ci_high: float
    alpha: float
    source: str = "growth"  # where the coefficient came from (inline, a fit file)

    @property
    def significant(self) -> bool:
        return self.p_value <= self.alpha

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "significant": self.significant}


@dataclass(frozen=True)
class OptimizationResult:
    """The optimum of a business-model spec (or why there is none).

    ``status`` is ``"optimal"`` (every bound and constraint holds at ``levers``) or
    ``"infeasible"`` (``infeasible_constraint`` names the constraint that cannot be met and
    ``levers`` is the least-violating point found). ``objective`` is the normalised weighted
    objective Σ ± λ_i f_i / s_i (for robust runs: its mean or quantile over the draws);
    ``objective_terms`` the raw f_i and ``quantities`` every quantity (means over the draws for
    robust runs); ``scales`` the s_i.
    ``shadow_prices[c]`` (>= 0) is the objective gained per unit that a binding constraint
    ``c`` is loosened (its right-hand side raised for ``<=``, lowered for ``>=``); bounds
    appear as ``levers.NAME.max`` / ``levers.NAME.min``. ``slack[c]`` >= 0 when ``c`` holds.
    ``kkt_residual`` near 0 confirms the first-order optimality conditions. ``closed_form``
    is True when the optimum is a stationary point solved symbolically
    (:mod:`bizmodel.optimize.closed_form`) that the numeric search confirmed.
    ``growth_effects`` are the growth coefficients the levers act through, each with its
    p-value and interval; ``warnings`` names every one that is not significant (the
    recommendation then rests on a point estimate) and the robust mode to use instead.
    ``sources["lever=choice"]`` says where a registry-measured choice's constants came from
    (its model version, metric and measured cost); the summary shows the chosen ones.
    """

    status: str
    levers: Mapping[str, float | str]
    quantities: Mapping[str, float]
    objective: float
    objective_terms: Mapping[str, float]
    weights: Mapping[str, float]  # signed: negative for minimised terms
    scales: Mapping[str, float]
    binding_constraints: tuple[str, ...]
    shadow_prices: Mapping[str, float]
    slack: Mapping[str, float]
    evaluations: int
    message: str = ""
    infeasible_constraint: str | None = None
    kkt_residual: float = 0.0
    robustness: RobustnessReport | None = None
    sensitivity: SensitivityReport | None = None
    closed_form: bool = False
    growth_effects: tuple[GrowthEffect, ...] = ()
    sources: Mapping[str, str] = field(
        default_factory=dict
    )  # "lever=choice" -> its numbers' origin

    @property
    def is_optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per growth coefficient the plan rests on that is not significant."""
        out = []
        for e in self.growth_effects:
            if e.significant:
                continue
            level = f"{1 - e.alpha:.0%}"
            robust = (
                f"this plan was optimised over the fit's uncertainty ({self.robustness.mode})"
                if self.robustness is not None
                else "the robust mode optimises over the fit's uncertainty instead: "
                "--robust 0.1 (a quantile) or --robust expected"
            )
            out.append(
                f"not significant: lever {e.lever!r} rests on growth coefficient "
                f"{e.coefficient!r} = {e.estimate:.4g} (p = {e.p_value:.3g} > {e.alpha:g}, "
                f"{level} CI [{e.ci_low:.4g}, {e.ci_high:.4g}] includes 0, {e.source}); "
                f"{robust}"
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (keys include levers, quantities, objective, status)."""
        return {
            "status": self.status,
            "message": self.message,
            "objective": self.objective,
            "objective_terms": dict(self.objective_terms),
            "weights": dict(self.weights),
            "scales": dict(self.scales),
            "levers": dict(self.levers),
            "quantities": dict(self.quantities),
            "binding_constraints": list(self.binding_constraints),
            "shadow_prices": dict(self.shadow_prices),
            "slack": dict(self.slack),
            "evaluations": self.evaluations,
            "infeasible_constraint": self.infeasible_constraint,
            "kkt_residual": self.kkt_residual,
            "closed_form": self.closed_form,
            "robustness": self.robustness.to_dict() if self.robustness else None,
            "sensitivity": self.sensitivity.to_dict() if self.sensitivity else None,
            "growth_effects": [e.to_dict() for e in self.growth_effects],
            "warnings": list(self.warnings),
            "sources": dict(self.sources),
        }

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [f"status: {self.status}" + (f" — {self.message}" if self.message else "")]
        how = "; a stationary point in closed form" if self.closed_form else ""
        lines.append(f"objective: {self.objective:.6g}  (evaluations: {self.evaluations}{how})")
        for name, v in self.objective_terms.items():
            lines.append(
                f"  {name:<24} {_fmt(v):>14}   weight {self.weights[name]:+g}, "
                f"scale {self.scales[name]:.6g}"
            )
        lines.append("levers:")
        lines += [f"  {k:<24} {_fmt(v):>14}" for k, v in self.levers.items()]
        lines += _source_lines(self.levers, self.sources)
        lines.append("quantities:")
        lines += [f"  {k:<24} {_fmt(v):>14}" for k, v in self.quantities.items()]
        if self.slack:
            lines.append("constraints (slack >= 0 holds):")
            for k, v in self.slack.items():
                mark = " binding" if k in self.binding_constraints else ""
                sp = (
                    f", shadow price {self.shadow_prices[k]:.6g}" if k in self.shadow_prices else ""
                )
                lines.append(f"  {k:<32} slack {v:.6g}{mark}{sp}")
        bounds = [b for b in self.binding_constraints if b not in self.slack]
        if bounds:
            lines.append(
                "binding bounds: "
                + ", ".join(f"{b} ({self.shadow_prices.get(b, 0.0):.6g})" for b in bounds)
            )
        if self.robustness is not None:
            r = self.robustness
            lines.append(
                f"robustness ({r.mode}, {r.samples} draws): objective mean {r.objective_mean:.6g}"
                f" ± {r.objective_std:.6g} [5%: {r.objective_q05:.6g}, 95%: {r.objective_q95:.6g}]"
                f"; re-optimised optimum {r.optimum_mean:.6g} ± {r.optimum_std:.6g}"
            )
        if self.sensitivity is not None:
            s = self.sensitivity
            lines.append(
                "sensitivity d(objective)/d(weight): "
                + ", ".join(f"{k} {v:.6g}" for k, v in s.value_by_weight.items())
            )
            lines.append(
                "sensitivity d(objective)/d(coefficient): "
                + ", ".join(f"{k} {v:.6g}" for k, v in s.value_by_coefficient.items())
            )
        if self.growth_effects:
            lines.append("growth effects the levers act through:")
            lines += [
                f"  {e.coefficient:<24} {e.estimate:>11.4g}  p = {e.p_value:.3g}"
                f"{'' if e.significant else '  NOT SIGNIFICANT'}"
                for e in self.growth_effects
            ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True)
class PlanEvaluation:
    """Every quantity, the objective and each constraint's slack for one set of lever values."""

    levers: Mapping[str, float | str]
    quantities: Mapping[str, float]
    objective: float
    objective_terms: Mapping[str, float]
    slack: Mapping[str, float]
    feasible: bool
    violated: tuple[str, ...]
    sources: Mapping[str, str] = field(default_factory=dict)  # as OptimizationResult.sources

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": dict(self.sources),
            "levers": dict(self.levers),
            "quantities": dict(self.quantities),
            "objective": self.objective,
            "objective_terms": dict(self.objective_terms),
            "slack": dict(self.slack),
            "feasible": self.feasible,
            "violated": list(self.violated),
        }

    def summary(self) -> str:
        lines = [
            f"feasible: {self.feasible}"
            + (f" (violated: {', '.join(self.violated)})" if self.violated else "")
        ]
        lines.append(f"objective: {self.objective:.6g}")
        lines += [f"  {k:<24} {_fmt(v):>14}" for k, v in self.levers.items()]
        lines += _source_lines(self.levers, self.sources)
        lines.append("quantities:")
        lines += [f"  {k:<24} {_fmt(v):>14}" for k, v in self.quantities.items()]
        if self.slack:
            lines.append("constraints (slack >= 0 holds):")
            lines += [f"  {k:<32} {v:.6g}" for k, v in self.slack.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class ParetoPoint:
    """One non-dominated plan: its objective values and levers."""

    values: Mapping[str, float]
    levers: Mapping[str, float | str]
    method: str  # "weights" or "epsilon"

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "levers": dict(self.levers), "method": self.method}


@dataclass(frozen=True)
class ParetoResult:
    """Non-dominated plans between several objectives (all maximised after sign).

    ``status`` is ``"optimal"``, or ``"infeasible"`` when the constraints cannot all be met:
    then ``points`` is empty, ``infeasible_constraint`` names the constraint that binds,
    ``message`` says by how much it is missed, and ``closest`` is the plan that came nearest
    (its objective values and levers) — an answer to report, not an error.
    """

    objectives: tuple[str, ...]
    senses: tuple[str, ...]  # "max" or "min"
    points: tuple[ParetoPoint, ...]
    evaluations: int
    status: str = "optimal"
    message: str = ""
    infeasible_constraint: str | None = None
    closest: ParetoPoint | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # as OptimizationResult.sources

    @property
    def is_optimal(self) -> bool:
        return self.status == "optimal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "objectives": list(self.objectives),
            "senses": list(self.senses),
            "points": [p.to_dict() for p in self.points],
            "evaluations": self.evaluations,
            "message": self.message,
            "infeasible_constraint": self.infeasible_constraint,
            "closest": self.closest.to_dict() if self.closest else None,
            "sources": dict(self.sources),
        }

    def summary(self) -> str:
        head = "  ".join(
            f"{('max ' if s == 'max' else 'min ') + o:>20}"
            for o, s in zip(self.objectives, self.senses, strict=False)
        )
        if not self.is_optimal:
            lines = [f"Pareto front: {self.status} — {self.message}"]
            if self.closest is not None:
                levers = ", ".join(f"{k}={_fmt(v)}" for k, v in self.closest.levers.items())
                lines += [head + "   (closest plan)"]
                row = "  ".join(f"{self.closest.values[o]:>20.6g}" for o in self.objectives)
                lines.append(f"{row}   {levers}")
            return "\n".join(lines)
        lines = [f"Pareto front: {len(self.points)} points ({self.evaluations} evaluations)", head]
        for p in self.points:
            row = "  ".join(f"{p.values[o]:>20.6g}" for o in self.objectives)
            levers = ", ".join(f"{k}={_fmt(v)}" for k, v in p.levers.items())
            lines.append(f"{row}   {levers}")
        lines += [f"{k}: {v}" for k, v in self.sources.items()]
        return "\n".join(lines)
