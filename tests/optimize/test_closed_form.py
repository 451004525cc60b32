"""Closed-form stationary points: exact where the class applies, never in the way elsewhere."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizmodel.optimize import optimize
from bizmodel.optimize.closed_form import stationary_points
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.problem import Counter
from bizmodel.optimize.search import Search, SearchOptions, constraint_rows
from bizmodel.optimize.spec import Spec


def _revenue(a: float = -0.05, b: float = 8.0, lo: float = 1.0, hi: float = 200.0) -> dict:
    return {
        "levers": {"price_usd": {"min": lo, "max": hi}},
        "growth": {"intercept": b, "coefficients": {"price_usd": a}},
        "quantities": {"users": "growth", "revenue_usd": "users * price_usd"},
        "objective": {"maximize": {"revenue_usd": 1.0}},
    }


def _points(raw: dict[str, Any], fixed: dict[str, str] | None = None) -> list[np.ndarray] | None:
    spec = Spec.from_dict(raw)
    model = BusinessModel(spec)
    coefs = {name: float(w) * sign for name, w, sign in spec.objective.terms}
    return stationary_points(model, model.layout(fixed or {}), coefs)


def test_revenue_peak_is_minus_one_over_a_and_is_the_first_evaluation() -> None:
    pts = _points(_revenue())
    assert pts is not None and len(pts) == 1
    assert pts[0][0] == pytest.approx(20.0, rel=1e-13)

    spec = Spec.from_dict(_revenue())
    counter = Counter(record=True)
    model = BusinessModel(spec)
    found = Search(model, {"revenue_usd": 1.0}, [], SearchOptions(), counter).run()
    assert found.closed_form
    # the very first evaluation of the search is the optimum itself
    assert counter.trace[0][2][0] == pytest.approx(20.0, rel=1e-13)
    assert found.point.x[0] == pytest.approx(20.0, rel=1e-13)

    res = optimize(_revenue())
    assert res.closed_form and res.to_dict()["closed_form"] is True
    assert "closed form" in res.summary()
    numeric = optimize(_revenue(), closed_form=False)
    assert not numeric.closed_form
    assert res.levers["price_usd"] == pytest.approx(numeric.levers["price_usd"], rel=1e-9)
    assert res.objective == pytest.approx(numeric.objective, rel=1e-12)


def test_two_levers_with_a_shared_exponential_factor() -> None:
    # users·(p − 2)·exp(−0.3 q²), users = exp(5 − 0.05 p + 0.8 q):
    # ∂/∂p ∝ 1 − 0.05 (p − 2) → p* = 22;  ∂/∂q ∝ (p − 2)(0.8 − 0.6 q) → q* = 4/3
    raw = {
        "levers": {"p": {"min": 1.0, "max": 100.0}, "q": {"min": 0.0, "max": 5.0}},
        "growth": {"intercept": 5.0, "coefficients": {"p": -0.05, "q": 0.8}},
        "quantities": {"users": "growth", "rev": "users * (p - 2) * exp(-0.3 * q^2)"},
        "objective": {"maximize": {"rev": 1.0}},
    }
    pts = _points(raw)
    assert pts is not None and len(pts) == 1
    np.testing.assert_allclose(pts[0], [22.0, 4.0 / 3.0], rtol=1e-12)
    res = optimize(raw)
    assert res.closed_form
    assert res.levers["p"] == pytest.approx(22.0, rel=1e-12)
    assert res.levers["q"] == pytest.approx(4.0 / 3.0, rel=1e-12)


def test_discrete_choices_are_substituted_per_layout() -> None:
    raw = _revenue()
    raw["levers"]["model"] = {
        "choices": {
            "small": {"quality": 0.78, "unit_cost": 1.0},
            "large": {"quality": 0.86, "unit_cost": 3.0},
        }
    }
    raw["growth"]["coefficients"]["quality"] = 2.0
    raw["quantities"]["profit_usd"] = "users * (price_usd - unit_cost)"
    raw["objective"] = {"maximize": {"profit_usd": 1.0}}
    for choice, cost in (("small", 1.0), ("large", 3.0)):
        pts = _points(raw, {"model": choice})
        assert pts is not None
        assert [round(float(x[0]), 10) for x in pts] == [cost + 20.0]  # p* = c − 1/a
    res = optimize(raw)
    assert res.closed_form
    # exp(2·0.08) = 1.17 more users does not pay for 2 more per user at p ≈ 21–23
    small = math.exp(8 - 0.05 * 21 + 2 * 0.78) * 20
    large = math.exp(8 - 0.05 * 23 + 2 * 0.86) * 20
    assert res.levers["model"] == ("small" if small > large else "large")


def test_a_stationary_minimum_does_not_stand_in_for_the_maximum() -> None:
    # (p − 10)² on [0, 30]: the only stationary point is the minimum; the maximum is p = 30
    raw = {
        "levers": {"p": {"min": 0.0, "max": 30.0}},
        "quantities": {"f": "(p - 10)^2"},
        "objective": {"maximize": {"f": 1.0}},
    }
    pts = _points(raw)
    assert pts is not None and [float(x[0]) for x in pts] == pytest.approx([10.0])
    res = optimize(raw)
    assert res.levers["p"] == pytest.approx(30.0)
    assert not res.closed_form


def test_a_peak_outside_the_box_gives_no_point_and_the_bound_wins() -> None:
    assert _points(_revenue(hi=15.0)) == []
    res = optimize(_revenue(hi=15.0))
    assert res.levers["price_usd"] == pytest.approx(15.0)
    assert not res.closed_form


@pytest.mark.parametrize(
    "quantities",
    [
        # an exponential plus a polynomial: the gradient's zero is transcendental
        {"users": "growth", "profit": "users * (price_usd - 2) - 100 * price_usd"},
        # min/max/abs and the unit-economics helpers are not attempted
        {"users": "growth", "profit": "min(users * price_usd, 5000)"},
        # the objective does not depend on the lever at all
        {"users": "growth", "profit": "3 + 0 * price_usd"},
    ],
)
def test_outside_the_class_returns_none_and_the_search_still_solves(
    quantities: dict[str, str],
) -> None:
    raw = _revenue()
    raw["quantities"] = quantities
    raw["objective"] = {"maximize": {"profit": 1.0}}
    assert _points(raw) is None
    res = optimize(raw)
    assert res.is_optimal and not res.closed_form
    numeric = optimize(raw, closed_form=False)
    assert res.objective == pytest.approx(numeric.objective, rel=1e-9)


def test_constrained_and_robust_problems_are_not_attempted() -> None:
    raw = _revenue()
    raw["constraints"] = ["price_usd <= 50"]
    spec = Spec.from_dict(raw)
    search = Search(
        BusinessModel(spec), {"revenue_usd": 1.0}, constraint_rows(spec), SearchOptions(), Counter()
    )
    assert not search.closed_form
    assert not optimize(raw).closed_form
    raw = _revenue()
    raw["growth"]["std_errors"] = {"intercept": 0.1, "price_usd": 0.002}
    res = optimize(raw, robust="expected", samples=50)
    assert res.is_optimal and not res.closed_form


@settings(max_examples=25, deadline=None)
@given(
    st.floats(-0.5, -0.005),
    st.floats(-2.0, 9.0),
    st.floats(0.0, 5.0),
    st.floats(0.0, 3.0),
)
def test_closed_form_and_numeric_search_agree(
    a: float, b: float, cost: float, w_users: float
) -> None:
    raw = _revenue(a=a, b=b, lo=0.5, hi=600.0)
    raw["quantities"]["profit_usd"] = f"users * (price_usd - {cost!r})"
    raw["objective"] = {
        "maximize": {"profit_usd": 1.0, "users": w_users},
        "normalize": "none",
    }
    res = optimize(raw)
    numeric = optimize(raw, closed_form=False)
    assert res.is_optimal and numeric.is_optimal
    assert res.objective >= numeric.objective - 1e-9 * abs(numeric.objective)
    assert res.levers["price_usd"] == pytest.approx(numeric.levers["price_usd"], rel=1e-6, abs=1e-6)
    # d/dp [users·(p − c) + w·users] = users·(1 + a(p − c) + w·a) = 0  →  p* = c − 1/a − w
    p_star = cost - 1.0 / a - w_users
    if 0.5 < p_star < 600.0:
        assert res.closed_form
        assert res.levers["price_usd"] == pytest.approx(p_star, rel=1e-10)


def test_a_quadratic_objective_is_solved_as_a_linear_system() -> None:
    # ∇(−(x − 3)² − 2(y + 1)² + xy/2) = 0:  [[−2, ½], [½, −4]] (x, y) = (−6, 4)
    raw = {
        "levers": {"x": {"min": -10.0, "max": 10.0}, "y": {"min": -10.0, "max": 10.0}},
        "quantities": {"f": "-(x - 3)^2 - 2 * (y + 1)^2 + 0.5 * x * y"},
        "objective": {"maximize": {"f": 1.0}},
    }
    expected = np.linalg.solve([[-2.0, 0.5], [0.5, -4.0]], [-6.0, 4.0])
    pts = _points(raw)
    assert pts is not None and len(pts) == 1
    np.testing.assert_allclose(pts[0], expected, rtol=1e-12)
    res = optimize(raw)
    assert res.closed_form
    np.testing.assert_allclose([res.levers["x"], res.levers["y"]], expected, rtol=1e-12)


@pytest.mark.timeout(60)
def test_a_general_polynomial_system_is_not_attempted() -> None:
    # exp(linear) · cubic in 3 levers: no equation of the gradient has a single unknown, and
    # SymPy's general solver takes minutes on it (140 s measured) — so it is left to the search
    raw = {
        "levers": {v: {"min": 0.1, "max": 10.0} for v in "xyz"},
        "growth": {"intercept": 1.0, "coefficients": {"x": -0.37, "y": -0.47, "z": -0.57}},
        "quantities": {
            "users": "growth",
            "f": "users * (x^2 * y + 0.3 * y^2 * z + 0.7 * z^2 * x + 1.1 * x * y * z + 2.3)",
        },
        "objective": {"maximize": {"f": 1.0}},
    }
    assert _points(raw) is None
    res = optimize(raw)
    assert res.is_optimal and not res.closed_form
