"""Closed-form optima, shadow prices, discrete choice, infeasibility, robustness, sensitivity."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from bizmodel.optimize import example_spec_path, optimize, pareto
from bizmodel.optimize.analysis import draw_coefficients
from bizmodel.optimize.spec import Spec


def _spec(a: float = -0.05, b: float = 8.0, c: float = 0.0, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "levers": {"p": {"min": 1.0, "max": 200.0}},
        "constants": {"c": c},
        "growth": {"intercept": b, "coefficients": {"p": a}},
        "quantities": {"users": "growth", "profit": "users * (p - c)"},
        "objective": {"maximize": {"profit": 1.0}},
    }
    spec.update(extra)
    return spec


@pytest.mark.parametrize("a", [-0.01, -0.05, -0.3])
def test_revenue_peaks_at_minus_one_over_a(a: float) -> None:
    res = optimize(_spec(a=a))
    assert res.status == "optimal"
    assert res.levers["p"] == pytest.approx(-1 / a, rel=1e-7)
    assert res.objective == pytest.approx(-1 / a * math.exp(-1 + 8.0), rel=1e-10)


@pytest.mark.parametrize(("a", "c"), [(-0.05, 4.0), (-0.1, 12.5), (-0.02, 0.3)])
def test_profit_with_unit_cost_peaks_at_c_minus_one_over_a(a: float, c: float) -> None:
    res = optimize(_spec(a=a, c=c))
    assert res.levers["p"] == pytest.approx(c - 1 / a, rel=1e-7)
    assert res.binding_constraints == ()
    assert res.kkt_residual < 1e-5


def test_budget_constraint_binds_with_the_right_shadow_price() -> None:
    # profit(s) = K exp(k s) - s grows in s; a budget B binds, and the shadow price is the
    # marginal profit of one more dollar: K k exp(k B) - 1
    K, k, B = 20_000.0, 1e-4, 5_000.0
    spec = {
        "levers": {"spend": {"min": 0.0, "max": 50_000.0}},
        "growth": {"intercept": math.log(K), "coefficients": {"spend": k}},
        "quantities": {"profit": "growth - spend"},
        "objective": {"maximize": {"profit": 1.0}},
        "constraints": [{"expr": "spend <= 5000", "name": "budget"}],
    }
    res = optimize(spec)
    assert res.levers["spend"] == pytest.approx(B, rel=1e-9)
    assert res.binding_constraints == ("budget",)
    assert res.shadow_prices["budget"] == pytest.approx(K * k * math.exp(k * B) - 1, rel=1e-6)
    assert res.slack["budget"] == pytest.approx(0.0, abs=1e-6)


def test_a_lever_bound_shadow_price_is_reported() -> None:
    # revenue peak at 1/0.05 = 20 lies above max = 10: the max binds with price dR/dp at 10
    res = optimize(_spec(levers={"p": {"min": 1.0, "max": 10.0}}))
    assert res.levers["p"] == 10.0
    assert res.binding_constraints == ("levers.p.max",)
    expected = math.exp(-0.5 + 8.0) * (1 - 0.05 * 10)
    assert res.shadow_prices["levers.p.max"] == pytest.approx(expected, rel=1e-6)


def test_discrete_lever_picks_the_right_choice() -> None:
    # profit at the best price for each plan is exp(b + a(c - 1/a))·(-1/a); the cheaper unit
    # cost wins unless the other plan's growth boost outweighs it
    spec = _spec(a=-0.1)
    spec.pop("constants")
    spec["levers"]["plan"] = {
        "choices": {
            "basic": {"c": 2.0, "boost": 0.0},
            "premium": {"c": 5.0, "boost": 0.35},
            "budget": {"c": 1.0, "boost": -0.2},
        }
    }
    spec["growth"]["coefficients"]["boost"] = 1.0

    def best(c: float, boost: float) -> float:
        p = c + 10.0
        return math.exp(8.0 + boost - 0.1 * p) * (p - c)

    values = {"basic": best(2, 0), "premium": best(5, 0.35), "budget": best(1, -0.2)}
    res = optimize(spec)
    # premium's growth boost outweighs its higher unit cost
    assert res.levers["plan"] == max(values, key=values.__getitem__) == "premium"
    assert res.objective == pytest.approx(max(values.values()), rel=1e-9)


def test_numeric_discrete_lever() -> None:
    spec = _spec(a=-0.05)
    spec["levers"] = {"p": {"choices": [5, 15, 25, 35]}}
    res = optimize(spec)
    values = {p: p * math.exp(-0.05 * p) for p in (5, 15, 25, 35)}
    assert res.levers["p"] == max(values, key=values.__getitem__)


def test_branch_and_bound_agrees_with_enumeration() -> None:
    spec = Spec.from_dict(_saas_with_extra_discrete())
    enum = optimize(spec)
    bnb = optimize(spec, enumerate_limit=1)
    assert bnb.levers["model"] == enum.levers["model"]
    assert bnb.levers["region"] == enum.levers["region"]
    assert bnb.objective == pytest.approx(enum.objective, rel=1e-8)


def _saas_with_extra_discrete() -> dict[str, Any]:
    import tomllib

    from .conftest import SAAS

    data = tomllib.loads(SAAS)
    data["levers"]["region"] = {
        "choices": {"eu": {"reach": 0.0}, "us": {"reach": 0.25}, "apac": {"reach": 0.1}}
    }
    data["growth"]["coefficients"]["reach"] = 1.0
    return data


def test_infeasible_spec_names_the_constraint() -> None:
    spec = _spec(constraints=["profit >= 1e9", "p <= 150"])
    res = optimize(spec)
    assert res.status == "infeasible"
    assert res.infeasible_constraint == "profit >= 1e9"
    assert "constraint 'profit >= 1e9' cannot be met within the lever bounds: closest is " in (
        res.message
    )
    assert "profit = 21932.7 >= 1e9" in res.message  # the best profit there is: 20·e^7


def test_conflicting_constraints_are_named_together() -> None:
    res = optimize(_spec(constraints=["p >= 50", "p <= 40"]))
    assert res.status == "infeasible"
    assert res.infeasible_constraint in ("p >= 50", "p <= 40")
    assert "together with" in res.message


def test_equality_constraint_holds() -> None:
    res = optimize(_spec(constraints=["users == 1000"]))
    assert res.quantities["users"] == pytest.approx(1000.0, rel=1e-6)
    assert res.levers["p"] == pytest.approx((8.0 - math.log(1000)) / 0.05, rel=1e-6)


def test_example_spec() -> None:
    res = optimize(example_spec_path("saas"))
    assert res.status == "optimal"
    assert res.levers["model"] == "large"
    assert res.levers["ad_spend_usd"] == pytest.approx(15_000.0, rel=1e-9)
    assert res.binding_constraints == ("ad_spend_usd <= 15000",)
    assert res.quantities["margin"] >= 0.4
    # with ad spend fixed at its cap, the price balances profit (peak at c - 1/a = 25.09)
    # against users (which prefer lower prices): it lies strictly between the two pulls
    assert 5.0 < res.levers["price_usd"] < 25.09
    d = res.to_dict()
    assert {"levers", "quantities", "objective", "status"} <= set(d)


def test_normalisation_scales_each_term_by_its_range_across_anchors() -> None:
    res = optimize(example_spec_path("saas"))
    # anchors: the single-objective optima of profit and of users
    profit_alone = optimize(example_spec_path("saas"), weights={"users": 0.0})
    users_alone = optimize(example_spec_path("saas"), weights={"profit_usd": 0.0})
    p_best, p_worst = (
        profit_alone.objective_terms["profit_usd"],
        users_alone.objective_terms["profit_usd"],
    )
    u_best, u_worst = users_alone.objective_terms["users"], profit_alone.objective_terms["users"]
    assert res.scales["profit_usd"] == pytest.approx(p_best - p_worst, rel=1e-6)
    assert res.scales["users"] == pytest.approx(u_best - u_worst, rel=1e-6)
    assert res.objective == pytest.approx(
        res.objective_terms["profit_usd"] / res.scales["profit_usd"]
        + 0.3 * res.objective_terms["users"] / res.scales["users"]
    )


def test_range_normalisation_ignores_constant_offsets() -> None:
    import tomllib

    from .conftest import SAAS

    base = tomllib.loads(SAAS)
    shifted = tomllib.loads(
        SAAS.replace(
            'profit_usd = "revenue_usd - cost_usd"', 'profit_usd = "revenue_usd - cost_usd - 1e6"'
        )
    )
    shifted["constraints"] = [{"expr": "ad_spend_usd <= 15000"}]
    base["constraints"] = [{"expr": "ad_spend_usd <= 15000"}]
    a, b = optimize(base), optimize(shifted)
    assert a.levers["price_usd"] == pytest.approx(b.levers["price_usd"], rel=1e-6)


def test_minimised_term_and_optimum_normalisation() -> None:
    import tomllib

    from .conftest import SAAS

    data = tomllib.loads(SAAS)
    data["objective"] = {
        "maximize": {"profit_usd": 1.0},
        "minimize": {"cost_usd": 0.5},
        "normalize": "optimum",
    }
    res = optimize(data)
    assert res.weights == {"profit_usd": 1.0, "cost_usd": -0.5}
    # the cheapest plan: no ads, small model, top price (fewest requests)
    assert res.scales["cost_usd"] == pytest.approx(
        optimize(data, weights={"profit_usd": 0.0}).objective_terms["cost_usd"], rel=1e-6
    )


def test_robust_expected_matches_a_direct_optimisation_of_the_same_draws() -> None:
    spec = Spec.from_dict(
        _spec(
            a=-0.05,
            growth={
                "intercept": 8.0,
                "coefficients": {"p": -0.05},
                "std_errors": {"p": 0.004, "intercept": 0.1},
            },
        )
    )
    res = optimize(spec, robust="expected", samples=400, seed=3)
    theta = draw_coefficients(spec, 400, 3)

    def neg(p: float) -> float:
        return -float(np.mean(p * np.exp(theta[:, 0] + theta[:, 1] * p)))

    oracle = minimize_scalar(neg, bounds=(1, 200), method="bounded", options={"xatol": 1e-10})
    assert res.levers["p"] == pytest.approx(oracle.x, rel=1e-6)
    r = res.robustness
    assert r is not None and r.samples == 400 and r.reoptimized == 20
    assert r.objective_mean == pytest.approx(-oracle.fun, rel=1e-9)
    assert r.objective_q05 < r.objective_mean < r.objective_q95
    assert r.optimum_std > 0 and r.lever_std["p"] > 0


def test_robust_quantile_is_more_cautious_than_expected() -> None:
    spec = Spec.from_dict(
        _spec(growth={"intercept": 8.0, "coefficients": {"p": -0.05}, "std_errors": {"p": 0.01}})
    )
    q10 = optimize(spec, robust=0.1, samples=300)
    mean = optimize(spec, robust="expected", samples=300)
    assert q10.robustness is not None and mean.robustness is not None
    assert q10.objective < mean.objective


def test_sensitivity_matches_closed_form() -> None:
    # V(a, b) = (-1/a) e^{b-1};  dV/db = V, dV/da = e^{b-1}/a^2;  dp*/da = 1/a^2
    a, b = -0.05, 8.0
    res = optimize(_spec(a=a, b=b), sensitivity=True)
    s = res.sensitivity
    assert s is not None
    V = -1 / a * math.exp(b - 1)
    assert s.value_by_coefficient["intercept"] == pytest.approx(V, rel=1e-6)
    assert s.value_by_coefficient["p"] == pytest.approx(math.exp(b - 1) / a**2, rel=1e-5)
    assert s.levers_by_coefficient["p"]["p"] == pytest.approx(1 / a**2, rel=1e-4)
    assert s.value_by_weight["profit"] == pytest.approx(V, rel=1e-9)
    assert s.levers_by_weight["profit"]["p"] == pytest.approx(0.0, abs=1e-4)


def test_pareto_front_is_monotone_and_spans_the_anchors() -> None:
    front = pareto(example_spec_path("saas"), ["profit_usd", "users"], points=5)
    profits = [p.values["profit_usd"] for p in front.points]
    users = [p.values["users"] for p in front.points]
    assert profits == sorted(profits)
    assert users == sorted(users, reverse=True)  # more profit, fewer users: a trade-off
    alone = optimize(example_spec_path("saas"), weights={"users": 0.0})
    assert profits[-1] == pytest.approx(alone.objective_terms["profit_usd"], rel=1e-7)


def test_pareto_finds_a_non_convex_front_with_epsilon_constraints() -> None:
    # f1 = t, f2 = 1 - t^2 ... made non-convex: f2 = (1 - t)^2 on t in [0, 1]; a weight sweep
    # only finds the two ends, the ε-constraint fills the middle
    spec = {
        "levers": {"t": {"min": 0.0, "max": 1.0}},
        "quantities": {"f1": "t", "f2": "(1 - t) ^ 2"},
        "objective": {"maximize": {"f1": 1.0}},
    }
    front = pareto(spec, ["f1", "f2"], points=6)
    interior = [p for p in front.points if 0.01 < p.values["f1"] < 0.99]
    assert interior and all(p.method == "epsilon" for p in interior)
    for p in front.points:
        assert p.values["f2"] == pytest.approx((1 - p.values["f1"]) ** 2, abs=1e-6)


def test_robust_quantile_matches_a_grid_search_of_the_same_draws() -> None:
    spec = Spec.from_dict(
        _spec(growth={"intercept": 8.0, "coefficients": {"p": -0.05}, "std_errors": {"p": 0.01}})
    )
    res = optimize(spec, robust=0.1, samples=300, seed=1)
    theta = draw_coefficients(spec, 300, 1)
    grid = np.linspace(1, 200, 20001)
    values = grid[:, None] * np.exp(theta[:, 0] + np.outer(grid, theta[:, 1]))  # (grid, draws)
    q = np.quantile(values, 0.1, axis=1)
    assert res.objective == pytest.approx(q.max(), rel=1e-5)
    assert res.levers["p"] == pytest.approx(grid[q.argmax()], abs=0.02)


def test_unit_economics_helpers_by_name_in_a_spec() -> None:
    # LTV-maximising price: churn rises with price, LTV = p·m/churn with m the gross margin
    spec = {
        "levers": {"price_usd": {"min": 5.0, "max": 100.0}},
        "constants": {"cost_per_1k": 0.4, "calls": 2000.0},
        "quantities": {
            "churn": "0.01 + 0.002 * price_usd",
            "cogs_usd": "inference_cost_usd(calls, cost_per_1k)",
            "margin": "gross_margin(price_usd, cogs_usd)",
            "ltv_usd": "ltv(price_usd, churn, margin)",
            "payback": "payback_months(120, price_usd, margin)",
        },
        "objective": {"maximize": {"ltv_usd": 1.0}},
        "constraints": ["payback <= 6"],
    }
    res = optimize(spec)
    # ltv = (p - 0.8) / (0.01 + 0.002 p) increases in p: the price bound binds
    assert res.levers["price_usd"] == 100.0
    assert res.quantities["ltv_usd"] == pytest.approx((100 - 0.8) / 0.21)
    assert res.quantities["payback"] == pytest.approx(120 / (100 - 0.8))
