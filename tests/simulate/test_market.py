import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bizmodel.errors import ConfigError
from bizmodel.monitor.drift import text_drift
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.simulate.market import (
    LEVERS,
    MODEL_VERSIONS,
    Arm,
    GrowthTruth,
    MarketConfig,
    simulate_market,
    simulate_new_users,
)


def _fit(table: pd.DataFrame):
    x = sm.add_constant(table[list(LEVERS)].to_numpy(dtype=float))
    return sm.GLM(table["new_users"].to_numpy(), x, family=sm.families.Poisson()).fit()


@pytest.fixture(scope="module")
def market():
    return simulate_market(MarketConfig(days=21, seed=7))


def test_poisson_glm_intervals_cover_the_truth(market) -> None:
    fit = _fit(market.arm_days)
    truth = np.array(list(market.truth.coefficients().values()))
    ci = fit.conf_int(0.05)
    assert np.all((ci[:, 0] <= truth) & (truth <= ci[:, 1])), (ci, truth)
    # and the fit is informative, not just wide
    assert ci[1, 1] < 0 and ci[2, 0] > 0 and ci[3, 0] > 0


def test_glm_interval_coverage_is_nominal_over_seeds() -> None:
    cfg = MarketConfig(days=14)
    truth = np.array(list(cfg.truth.coefficients().values()))
    hits = np.zeros(4)
    reps = 120
    for seed in range(reps):
        ci = _fit(simulate_new_users(cfg, np.random.default_rng(seed))).conf_int(0.05)
        hits += (ci[:, 0] <= truth) & (truth <= ci[:, 1])
    coverage = hits / reps  # 95% nominal; binomial sd about 0.02
    assert np.all(coverage >= 0.88), coverage


def test_frames_follow_the_kpi_schema_and_agree_with_the_arm_day_table(market) -> None:
    ev, pr, fb = market.events, market.predictions, market.feedback
    assert list(ev.columns[:5]) == ["event_id", "user_id", "type", "value", "ts"]
    assert {"prediction_id", "ts", "model_name", "model_version", "latency_ms", "cost_usd",
            "user_id", "text", "output"} <= set(pr.columns)  # fmt: skip
    assert list(fb.columns) == ["prediction_id", "ts", "rating", "label"]
    assert (ev["type"] == "signup").sum() == market.arm_days["new_users"].sum()
    report = compute_kpis(ev, pr, fb, kpis=["new_users", "revenue_usd"])
    daily = market.arm_days.groupby("day")["new_users"].sum().to_numpy(dtype=float)
    assert report.series("new_users").to_numpy() == pytest.approx(daily)
    purchases = ev[ev["type"] == "purchase"]
    assert report.series("revenue_usd").sum() == pytest.approx(purchases["value"].sum())
    # every purchase is at its arm's price; every prediction's version is its arm's
    prices = {"A": 9.99, "B": 9.99, "C": 14.99, "D": 14.99}
    assert (purchases["value"] == purchases["arm"].map(prices)).all()
    assert set(pr.groupby("arm")["model_version"].unique().map(tuple)) == {("small",), ("large",)}
    assert fb["prediction_id"].isin(pr["prediction_id"]).all()
    assert ev["ts"].is_monotonic_increasing and ev["event_id"].is_unique


def test_behaviour_follows_the_documented_truth(market) -> None:
    ev, pr, fb = market.events, market.predictions, market.feedback
    # no user acts after churning
    churn_ts = ev[ev["type"] == "churn"].set_index("user_id")["ts"]
    acts = ev[ev["type"] != "churn"]
    later = acts["ts"] > acts["user_id"].map(churn_ts)
    assert not later.fillna(False).any()
    # large model: slower, costlier, more accurate, better rated
    by = pr.groupby("model_version")
    assert by["latency_ms"].median()["large"] > 3 * by["latency_ms"].median()["small"]
    assert by["cost_usd"].mean()["large"] > by["cost_usd"].mean()["small"]
    joined = fb.merge(pr[["prediction_id", "model_version", "output"]], on="prediction_id")
    err = (joined["output"] - joined["label"]).abs().groupby(joined["model_version"]).mean()
    rating = joined.groupby("model_version")["rating"].mean()
    assert err["large"] < err["small"] and rating["large"] > rating["small"]
    assert fb["rating"].between(1, 5).all()


def test_same_seed_same_data_and_text_drift_switch() -> None:
    a = simulate_market(MarketConfig(days=4, seed=3))
    b = simulate_market(MarketConfig(days=4, seed=3))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    drifted = simulate_market(MarketConfig(days=6, seed=3, long_text_from_day=3))
    p = drifted.predictions
    day = (p["ts"] - p["ts"].min().floor("D")).dt.days
    report = text_drift(p.loc[day < 3, "text"].tolist(), p.loc[day >= 3, "text"].tolist())
    assert report.feature("length_tokens").severity == "major"
    calm = a.predictions
    day = (calm["ts"] - calm["ts"].min().floor("D")).dt.days
    assert (
        text_drift(calm.loc[day < 2, "text"].tolist(), calm.loc[day >= 2, "text"].tolist()).severity
        == "none"
    )


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="arm 'X': model_version 'huge' is not one of"):
        MarketConfig(arms=(Arm("X", 5.0, "huge"),))
    with pytest.raises(ConfigError, match="days must be >= 1, got 0"):
        MarketConfig(days=0)
    assert set(MODEL_VERSIONS) == {"small", "large"}
    assert GrowthTruth().coefficients()["price_usd"] == -0.06


def test_summary_and_to_dict(market) -> None:
    assert market.summary().startswith("Simulated market: 4 arms x 21 days;")
    d = market.to_dict()
    assert d["truth"]["intercept"] == 3.0 and len(d["arm_days"]) == 84
    assert isinstance(d["arm_days"][0]["date"], str)
