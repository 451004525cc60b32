import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizmodel.errors import ConfigError
from bizmodel.monitor.drift import detect_drift
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.monitor.retrain_policy import (
    RetrainPolicy,
    offline_gate,
    promotion_decision,
    should_retrain,
)


def _quality_kpis(mae_by_day: list[float]):
    rows_p, rows_f = [], []
    for d, mae in enumerate(mae_by_day):
        ts = f"2026-02-0{d + 1}T12:00:00"
        rows_p.append((f"p{d}", ts, "m", "v1", 10.0, 0.001, "u1", 0.0))
        rows_f.append((f"p{d}", ts, None, mae))
    pr = pd.DataFrame(
        rows_p,
        columns=[
            "prediction_id",
            "ts",
            "model_name",
            "model_version",
            "latency_ms",
            "cost_usd",
            "user_id",
            "output",
        ],
    )
    fb = pd.DataFrame(rows_f, columns=["prediction_id", "ts", "rating", "label"])
    ev = pd.DataFrame(columns=["event_id", "user_id", "type", "value", "ts"])
    return compute_kpis(ev, pr, fb, kpis=["live_mae"])


def test_retrain_on_drift_quality_or_labels_and_never_without_labels() -> None:
    rng = np.random.default_rng(0)
    drift = detect_drift({"len": rng.normal(0, 1, 800)}, {"len": rng.normal(1.5, 1, 800)})
    d = should_retrain(drift=drift, new_labels=300)
    assert d.action == "retrain" and d.reasons[0].startswith("input drift: len is major (PSI ")
    held = should_retrain(drift=drift, new_labels=50)
    assert held.action == "wait"
    assert held.blockers == ("only 50 new labels; need 200 to train on",)
    kpis = _quality_kpis([0.20, 0.25])  # MAE 0.25 vs baseline 0.20: 25% worse
    q = should_retrain(kpis=kpis, baseline_quality=0.20, new_labels=400)
    assert q.action == "retrain"
    assert q.reasons == ("live quality: live_mae 0.25 vs. baseline 0.2 (+25.0% worse, limit 10%)",)
    assert should_retrain(kpis=kpis, baseline_quality=0.24, new_labels=400).action == "wait"
    assert should_retrain(new_labels=1000).reasons == ("1000 new feedback labels (trigger 1000)",)
    assert "Decision: retrain" in d.summary() and d.to_dict()["action"] == "retrain"


def test_better_challenger_promoted_worse_not() -> None:
    assert offline_gate(0.766, 0.79, metric="weighted_cosine").action == "evaluate_online"
    worse = offline_gate(0.766, 0.74, metric="weighted_cosine")
    assert worse.action == "reject"
    assert worse.reasons == (
        "weighted_cosine: challenger 0.74 vs. champion 0.766 (gain -0.026) does not exceed 0",
    )
    assert (
        promotion_decision(lift=0.06, ci_low=0.02, ci_high=0.10, metric="conversion").action
        == "promote"
    )
    assert promotion_decision(lift=-0.06, ci_low=-0.1, ci_high=-0.02).action == "keep_champion"
    strict = RetrainPolicy(min_lift=0.03)
    assert (
        promotion_decision(lift=0.06, ci_low=0.02, ci_high=0.10, policy=strict).action
        == "keep_champion"
    )


@given(st.floats(-1, 1), st.floats(0, 1), st.floats(0, 1), st.booleans())
def test_promotion_never_on_an_interval_containing_zero(lift, below, above, higher) -> None:
    lo, hi = lift - below, lift + above
    d = promotion_decision(lift=lift, ci_low=lo, ci_high=hi, higher_is_better=higher)
    if lo <= 0 <= hi:
        assert d.action == "keep_champion"


def test_policy_validation() -> None:
    with pytest.raises(ConfigError, match="need 0 <= min_labels <= labels_trigger"):
        RetrainPolicy(min_labels=500, labels_trigger=100)
    with pytest.raises(ConfigError, match="drift_severity must be 'moderate' or 'major'"):
        RetrainPolicy(drift_severity="none")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="need ci_low <= lift <= ci_high"):
        promotion_decision(lift=0.5, ci_low=0.0, ci_high=0.1)
