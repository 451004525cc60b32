import numpy as np
import pytest

from bizmodel.economics import (
    SPEC_FUNCTIONS,
    amortized_training_cost_usd,
    arpu,
    break_even_units,
    cac,
    contribution_margin,
    cost_per_1k_predictions,
    gross_margin,
    inference_cost_usd,
    ltv,
    model_cost_usd,
    payback_months,
)
from bizmodel.optimize.dual import Dual


def test_ltv_equals_discounted_sum_of_margins() -> None:
    # oracle: explicit sum over a long horizon of m * ARPU * retention^t / (1 + d)^t
    arpu_usd, churn, m, d = 42.0, 0.07, 0.65, 0.01
    t = np.arange(5000)
    direct = np.sum(arpu_usd * m * (1 - churn) ** t / (1 + d) ** t)
    assert ltv(arpu_usd, churn, m, d) == pytest.approx(direct, rel=1e-10)


def test_break_even_makes_profit_zero() -> None:
    q = break_even_units(9_000.0, 25.0, 7.0)
    assert q * 25.0 - (9_000.0 + q * 7.0) == pytest.approx(0.0, abs=1e-9)


def test_payback_and_margins_are_consistent() -> None:
    revenue, cogs, users = 10_000.0, 2_500.0, 500.0
    m = gross_margin(revenue, cogs)
    a = arpu(revenue, users)
    c = cac(6_000.0, 100.0)
    assert payback_months(c, a, m) * a * m == pytest.approx(c)
    assert contribution_margin(20.0, 4.0) == 16.0


def test_model_cost_is_inference_plus_amortised_training() -> None:
    per_1k = cost_per_1k_predictions(latency_ms=12.0, instance_usd_per_hour=1.2, batch_size=4)
    # 1000 predictions = 250 batches of 12 ms = 3 s of a $1.2/h instance
    assert per_1k == pytest.approx(3.0 / 3600 * 1.2)
    total = model_cost_usd(2e6, per_1k, training_cost_usd=600.0, lifetime_periods=6.0)
    assert total == pytest.approx(
        inference_cost_usd(2e6, per_1k) + amortized_training_cost_usd(600.0, 6.0)
    )


def test_functions_work_on_arrays_and_duals() -> None:
    churn = np.array([0.02, 0.05, 0.1])
    np.testing.assert_allclose(ltv(30.0, churn), 30.0 / churn)
    x = Dual.variable(0.05, 0, 1)
    out = ltv(30.0, x, 0.8)
    assert float(out.val) == pytest.approx(480.0)
    assert float(out.grad[0]) == pytest.approx(-30.0 * 0.8 / 0.05**2)


def test_every_spec_function_is_registered_by_its_name() -> None:
    assert SPEC_FUNCTIONS["ltv"] is ltv
    assert {"arpu", "cac", "payback_months", "gross_margin", "break_even_units"} <= set(
        SPEC_FUNCTIONS
    )
