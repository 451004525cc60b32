"""Trust-region Newton on a box, exact Hessians of a spec, and the local-solver choice."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from bizmodel.errors import ConfigError
from bizmodel.optimize import optimize
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.newton import tr_subproblem, trust_region_box
from bizmodel.optimize.problem import Counter, Problem
from bizmodel.optimize.search import constraint_rows
from bizmodel.optimize.spec import Spec


def _sym(vals: list[float], n: int) -> np.ndarray:
    a = np.asarray(vals[: n * n]).reshape(n, n)
    return (a + a.T) / 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.lists(st.floats(-3, 3), min_size=9, max_size=9),
    st.lists(st.floats(-3, 3), min_size=3, max_size=3),
    st.floats(0.05, 5.0),
)
def test_tr_subproblem_is_the_global_minimum_on_the_ball(
    n: int, hv: list[float], gv: list[float], delta: float
) -> None:
    H, g = _sym(hv, n), np.asarray(gv[:n])
    s = tr_subproblem(g, H, delta)

    def m(v: np.ndarray) -> float:
        return float(g @ v + 0.5 * v @ H @ v)

    assert np.linalg.norm(s) <= delta * (1 + 1e-8)
    # no point of the ball (random directions, on the sphere and inside) does better
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(400, n))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for r in (delta, 0.5 * delta, 0.1 * delta):
        best = min(m(r * d) for d in dirs)
        assert m(s) <= best + 1e-9 * max(1.0, abs(best))


def test_tr_subproblem_hard_case_goes_to_the_boundary() -> None:
    # g orthogonal to the negative-curvature direction: the step must still use it
    s = tr_subproblem(np.array([0.0, 1.0]), np.diag([-2.0, 4.0]), 1.0)
    assert np.linalg.norm(s) == pytest.approx(1.0)
    assert s[1] == pytest.approx(-1.0 / 6.0)  # (H + 2I)s = -g on the second axis
    assert abs(s[0]) == pytest.approx(math.sqrt(1 - s[1] ** 2))


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.floats(-2, 2), min_size=9, max_size=9),
    st.lists(st.floats(-5, 5), min_size=3, max_size=3),
)
def test_box_newton_matches_lbfgsb_on_quadratics(hv: list[float], bv: list[float]) -> None:
    # f = ½ xᵀAx + bᵀx over [-1, 1]^3 with A made positive definite: a unique minimum
    A = _sym(hv, 3) + 3.5 * np.eye(3)
    b = np.asarray(bv)
    lo, hi = -np.ones(3), np.ones(3)

    def fgh(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return float(0.5 * x @ A @ x + b @ x), A @ x + b, A

    res = trust_region_box(fgh, np.zeros(3), lo, hi)
    ref = minimize(
        lambda x: fgh(x)[:2],
        np.zeros(3),
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lo, hi, strict=True)),
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    assert np.all((res.x >= lo) & (res.x <= hi))
    assert res.fun <= ref.fun + 1e-9
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    assert res.nfev <= 12  # a quadratic: Newton steps once the active set is found


SAAS: dict[str, Any] = {
    "levers": {"price_usd": {"min": 5.0, "max": 80.0}, "ad_spend_usd": {"min": 0.0, "max": 2e4}},
    "constants": {"inference_cost_usd": 0.003, "quality": 0.86},
    "growth": {
        "intercept": 7.5,
        "coefficients": {"price_usd": -0.04, "ad_spend_usd": 0.00004, "quality": 2.0},
    },
    "quantities": {
        "users": "growth",
        "revenue_usd": "users * price_usd",
        "cost_usd": "ad_spend_usd + users * 30 * inference_cost_usd",
        "profit_usd": "revenue_usd - cost_usd",
        "margin": "profit_usd / revenue_usd",
    },
    "objective": {"maximize": {"profit_usd": 1.0, "users": 0.3}, "normalize": "none"},
    "constraints": ["margin >= 0.4", "sqrt(ad_spend_usd + 1) * price_usd <= 5000"],
}


@pytest.mark.parametrize("draws", [None, 5])
def test_problem_hessians_match_differences_of_exact_gradients(draws: int | None) -> None:
    spec = Spec.from_dict(SAAS)
    model = BusinessModel(spec)
    theta = None
    if draws:
        rng = np.random.default_rng(1)
        theta = model.theta + 0.01 * rng.normal(size=(draws, model.theta.size))
    layout = model.layout({})
    coefs = {"profit_usd": 1.0, "users": 0.3}
    rows = constraint_rows(spec)
    second = Problem(model, layout, coefs, rows, Counter(), theta, method="trust-constr")
    first = Problem(model, layout, coefs, rows, Counter(), theta, method="slsqp")
    u = np.array([0.4, 0.3])
    p = second.run(u)
    assert p.d2F is not None and p.d2g is not None and first.run(u).d2F is None
    h = 1e-6
    fd_F = np.array([(first.run(u + e).dF - first.run(u - e).dF) / (2 * h) for e in h * np.eye(2)])
    fd_g = np.stack(
        [(first.run(u + e).dg - first.run(u - e).dg) / (2 * h) for e in h * np.eye(2)], axis=-1
    )
    np.testing.assert_allclose(p.d2F, fd_F, rtol=1e-5, atol=1e-6 * np.abs(p.d2F).max())
    np.testing.assert_allclose(p.d2g, fd_g, rtol=1e-5, atol=1e-6 * np.abs(p.d2g).max())
    np.testing.assert_allclose(p.dF, first.run(u).dF, rtol=1e-12)


def _revenue(lo: float = 1.0, hi: float = 200.0) -> dict[str, Any]:
    return {
        "levers": {"p": {"min": lo, "max": hi}, "q": {"min": 0.0, "max": 10.0}},
        "growth": {"intercept": 8.0, "coefficients": {"p": -0.05, "q": -0.2}},
        "quantities": {"users": "growth", "profit": "users * (p - 4) - (q - 3) ^ 2"},
        "objective": {"maximize": {"profit": 1.0}},
    }


@pytest.mark.parametrize("method", ["auto", "slsqp", "newton"])
def test_every_local_method_finds_the_closed_form_optimum(method: str) -> None:
    # p* = c - 1/a = 24; q only costs: the growth term pulls it to its min 0
    res = optimize(_revenue(), method=method)
    assert res.status == "optimal"
    assert res.levers["p"] == pytest.approx(24.0, rel=1e-6)
    assert res.levers["q"] == 0.0
    assert "levers.q.min" in res.binding_constraints
    # an interior optimum cut off by the upper bound: p stays exactly at its max
    capped = optimize(_revenue(hi=15.0), method=method)
    assert capped.levers["p"] == 15.0


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(["auto", "slsqp", "newton", "trust-constr"]),
    st.floats(5.0, 23.0),
    st.floats(25.0, 60.0),
    st.booleans(),
)
def test_a_lever_at_its_bound_is_exactly_the_bound(
    method: str, lo: float, hi: float, constrained: bool
) -> None:
    # unconstrained optimum p* = 24 lies inside [lo, hi]; cap it from above or below so the
    # optimum is at a bound, and check the bound comes back bit for bit (no 14.999999999999996)
    spec = _revenue(lo=lo, hi=23.0 if hi < 40 else hi)
    if hi >= 40:  # floor above the optimum: the lower bound binds
        spec["levers"]["p"] = {"min": 25.0 + (hi - 40.0), "max": 80.0}
    if constrained:  # a slack constraint forces the constrained (SLSQP) path of 'auto'
        spec["constraints"] = ["users >= 0"]
    bound = spec["levers"]["p"]["max"] if hi < 40 else spec["levers"]["p"]["min"]
    res = optimize(spec, method=method)
    assert res.status == "optimal"
    assert res.levers["p"] == bound
    assert res.levers["q"] == 0.0


@pytest.mark.parametrize(
    "method",
    [
        "slsqp",
        "newton",
        pytest.param(
            "trust-constr",
            marks=[
                pytest.mark.slow,
                pytest.mark.xfail(
                    strict=True,
                    reason="scipy's trust-constr ends at spend ~ 0 on this convex-in-spend spec "
                    "with the constraint scaled by 1/25000 (it solves it with 1/5000): one "
                    "reason method='auto' never picks it",
                ),
            ],
        ),
    ],
)
def test_every_local_method_keeps_constraints_and_shadow_prices(method: str) -> None:
    K, k, B = 20_000.0, 1e-4, 5_000.0
    spec = {
        "levers": {"spend": {"min": 0.0, "max": 50_000.0}},
        "growth": {"intercept": math.log(K), "coefficients": {"spend": k}},
        "quantities": {"profit": "growth - spend"},
        "objective": {"maximize": {"profit": 1.0}},
        "constraints": [{"expr": "spend <= 5000", "name": "budget"}],
    }
    res = optimize(spec, method=method)
    assert res.levers["spend"] == pytest.approx(B, rel=1e-7)
    assert res.shadow_prices["budget"] == pytest.approx(K * k * math.exp(k * B) - 1, rel=1e-5)


def test_newton_uses_fewer_evaluations_than_slsqp_on_a_bounds_only_spec() -> None:
    # the measured reason for method="auto" -> "newton" on bounds-only subproblems
    newton = optimize(_revenue(), method="newton", n_starts=1)
    slsqp = optimize(_revenue(), method="slsqp", n_starts=1)
    assert newton.evaluations < slsqp.evaluations


def test_unknown_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"method: got 'bfgs'; valid: auto, slsqp, newton"):
        optimize(_revenue(), method="bfgs")


def test_trust_constr_with_exact_lagrangian_hessians_agrees_with_slsqp() -> None:
    # the example (model fixed): margin >= 0.4 and a nonlinear cap, both with Hessians
    ref = optimize(SAAS, method="slsqp")
    res = optimize(SAAS, method="trust-constr")
    assert res.status == ref.status == "optimal"
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)
    for k in ("price_usd", "ad_spend_usd"):
        assert res.levers[k] == pytest.approx(ref.levers[k], rel=1e-4, abs=1e-3)
