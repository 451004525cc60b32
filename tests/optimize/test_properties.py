"""Invariants over random specs: never out of bounds, never infeasible reported as optimal."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizmodel.optimize import evaluate_plan, optimize
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.search import constraint_rows
from bizmodel.optimize.spec import Spec


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    levers: dict[str, Any] = {}
    coefs: dict[str, float] = {}
    for i in range(n):
        lo = draw(st.floats(-10, 10))
        width = draw(st.floats(0.5, 20))
        levers[f"x{i}"] = {"min": lo, "max": lo + width}
        coefs[f"x{i}"] = draw(st.floats(-2, 2)) / width
    if draw(st.booleans()):
        levers["plan"] = {
            "choices": {"a": {"k": draw(st.floats(-1, 1))}, "b": {"k": draw(st.floats(-1, 1))}}
        }
        coefs["k"] = 1.0
    price = " + ".join(f"{draw(st.floats(-1, 1)):.3f} * x{i}" for i in range(n))
    spec: dict[str, Any] = {
        "levers": levers,
        "growth": {"intercept": draw(st.floats(0, 4)), "coefficients": coefs},
        "quantities": {
            "users": "growth",
            "value": f"users * (3 + {price}) - 0.1 * ({' + '.join(f'x{i}^2' for i in range(n))})",
        },
        "objective": {"maximize": {"value": 1.0, "users": draw(st.floats(0, 1))}},
    }
    constraints = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["linear", "users"]))
        if kind == "linear":
            w = [draw(st.floats(-1, 1)) for _ in range(n)]
            rhs = draw(st.floats(-15, 15))
            constraints.append(
                " + ".join(f"{wi:.3f} * x{i}" for i, wi in enumerate(w)) + f" <= {rhs:.3f}"
            )
        else:
            constraints.append(f"users >= {draw(st.floats(0.5, 200)):.3f}")
    spec["constraints"] = constraints
    return spec


def _grid_has_feasible_point(spec: dict[str, Any]) -> bool:
    """Brute force: is any of 4000 random points (per discrete choice) clearly feasible?"""
    parsed = Spec.from_dict(spec)
    model = BusinessModel(parsed)
    rows = constraint_rows(parsed)
    rng = np.random.default_rng(0)
    lo = np.array([lv.min for lv in parsed.continuous])
    hi = np.array([lv.max for lv in parsed.continuous])
    x = lo + rng.uniform(size=(4000, len(lo))) * (hi - lo)
    combos = [{}] if not parsed.discrete else [{"plan": c} for c in parsed.discrete[0].choices]
    for combo in combos:
        layout = model.layout(combo)
        for xi in x:
            env = model.evaluate(layout, xi, grad=False)
            if all(
                float(r.b(env) - r.a(env)) > 1e-3 * max(1.0, abs(float(r.b(env)))) for r in rows
            ):
                return True
    return False


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(specs())
def test_never_out_of_bounds_never_infeasible_reported_as_optimal(spec: dict[str, Any]) -> None:
    res = optimize(spec, n_starts=3)
    for name, lv in spec["levers"].items():
        if "min" in lv:
            assert lv["min"] <= res.levers[name] <= lv["max"]
    if res.status == "optimal":
        # an independent re-evaluation of the returned plan satisfies every constraint
        check = evaluate_plan(spec, res.levers)
        assert check.feasible, check.violated
        assert np.isfinite(res.objective)
    else:
        assert res.status == "infeasible"
        assert res.infeasible_constraint in spec["constraints"]
        assert not _grid_has_feasible_point(spec)
