"""Typed bodies of the web app's JSON endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WhatIfRequest(BaseModel):
    """Lever values to evaluate; levers left out take the recommended value."""

    levers: dict[str, float | str] = Field(default_factory=dict)


class ConstraintState(BaseModel):
    """One constraint at the evaluated plan."""

    name: str
    slack: float  # >= 0 when the constraint holds
    holds: bool
    binds: bool  # holds with no room left (|slack| <= 1e-6)
    binds_at_optimum: bool


class Recommended(BaseModel):
    """The optimizer's recommendation (``bizmodel optimize``)."""

    status: str
    objective: float
    levers: dict[str, float | str]
    quantities: dict[str, float]
    binding_constraints: list[str]


class Evaluation(BaseModel):
    """``bizmodel evaluate-plan --json`` at the given levers."""

    levers: dict[str, float | str]
    quantities: dict[str, float]
    objective: float
    objective_terms: dict[str, float]
    slack: dict[str, float]
    feasible: bool
    violated: list[str]


class WhatIfResponse(BaseModel):
    """The plan at the given levers next to the recommendation."""

    evaluation: Evaluation
    recommended: Recommended
    objective_gap: float  # recommended objective minus this plan's
    constraints: list[ConstraintState]
    deltas: dict[str, float]  # this plan minus the recommendation, per lever and quantity
