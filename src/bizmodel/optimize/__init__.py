"""The business-model optimizer: f(x) = Σ λ_i f_i(x) over the levers, under constraints.

A spec (TOML or dict) names levers, a growth model ``users = exp(b + Σ a_i x_i)``, quantities
as safe expressions, a weighted objective and constraints. :func:`optimize` finds the best
feasible levers with exact gradients (forward-mode autodiff) and SLSQP from several starts,
enumerating (or branch-and-bounding) discrete levers; :func:`pareto` traces the front between
objectives; :func:`evaluate_plan` scores given lever values.

Examples
--------
>>> from bizmodel.optimize import optimize, example_spec_path
>>> res = optimize(example_spec_path("saas"))
>>> res.status, res.levers["model"], res.binding_constraints
('optimal', 'large', ('ad_spend_usd <= 15000',))
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bizmodel.optimize.pareto import pareto
from bizmodel.optimize.results import (
    GrowthEffect,
    OptimizationResult,
    ParetoPoint,
    ParetoResult,
    PlanEvaluation,
    RobustnessReport,
    SensitivityReport,
)
from bizmodel.optimize.solver import evaluate_plan, optimize
from bizmodel.optimize.spec import Spec, load_spec

__all__ = [
    "GrowthEffect",
    "OptimizationResult",
    "ParetoPoint",
    "ParetoResult",
    "PlanEvaluation",
    "RobustnessReport",
    "SensitivityReport",
    "Spec",
    "evaluate_plan",
    "example_spec_path",
    "load_spec",
    "optimize",
    "pareto",
]


def example_spec_path(name: str = "saas") -> Path:
    """Path of a spec shipped with bizmodel (``"saas"``: the issue's example)."""
    return Path(str(resources.files("bizmodel.optimize") / "examples" / f"{name}.toml"))
