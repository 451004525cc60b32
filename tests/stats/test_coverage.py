"""Frequentist coverage of the delta-method intervals (fixed seeds, so counts are exact)."""

import numpy as np

from bizmodel.stats import analyze
from bizmodel.stats.units import arm_statistics

SIMS = 400
LOW, HIGH = 0.92, 0.98  # ±2.7 binomial sd around 0.95 at 400 simulations


def test_relative_cuped_interval_covers_the_true_lift() -> None:
    rng = np.random.default_rng(99)
    n, true_rel = 1000, 0.05  # treatment mean 1.05 × control mean 10
    codes = np.repeat([0, 1], n)
    hits = 0
    for _ in range(SIMS):
        x = rng.normal(5, 2, 2 * n)
        y = 7.5 + 0.5 * x + rng.normal(0, 1.5, 2 * n)  # control mean 10
        y[n:] *= 1 + true_rel
        a, b = arm_statistics(codes, 2, y, kind="mean", x=x)
        c = analyze({"a": a, "b": b}).comparison("b")
        hits += c.ci_low <= true_rel <= c.ci_high
    assert LOW <= hits / SIMS <= HIGH, hits / SIMS


def test_ratio_metric_interval_covers_the_true_lift() -> None:
    rng = np.random.default_rng(7)
    n = 1500
    codes = np.repeat([0, 1], n)
    hits = 0
    for _ in range(SIMS):
        sessions = rng.poisson(3, 2 * n) + 1.0
        revenue = sessions * rng.gamma(2.0, 1.0, 2 * n)  # 2 per session
        revenue[n:] *= 1.1  # +10% revenue per session
        a, b = arm_statistics(codes, 2, revenue, kind="mean", den=sessions)
        c = analyze({"a": a, "b": b}).comparison("b")
        hits += c.ci_low <= 0.1 <= c.ci_high
    assert LOW <= hits / SIMS <= HIGH, hits / SIMS
