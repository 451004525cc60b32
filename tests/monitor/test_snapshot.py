import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError
from bizmodel.monitor.alerts import ThresholdRule
from bizmodel.monitor.snapshot import run_monitor
from bizmodel.report.sections import sections_from_data
from bizmodel.simulate.market import MarketConfig, simulate_market


@pytest.fixture(scope="module")
def calm():
    return simulate_market(MarketConfig(days=14, seed=2))


def test_periods_kpis_and_no_drift_on_a_calm_market(calm) -> None:
    result = run_monitor(calm.events, calm.predictions, calm.feedback, since="2026-01-06")
    assert result.current_period == ("2026-01-12T00:00:00+00:00", "2026-01-19T00:00:00+00:00")
    assert result.reference_period == ("2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00")
    assert result.drift is not None and result.drift.severity == "none"
    assert [f.name for f in result.drift.features] == [
        "length_chars",
        "length_tokens",
        "model_output",
    ]
    assert result.kpis.series("new_users").index[0] == pd.Timestamp("2026-01-06", tz="UTC")
    assert len(result.kpis.series("new_users")) == 13
    assert not [a for a in result.alerts if a.kind == "drift"]
    sections = sections_from_data(result.report_data())
    assert [s.key for s in sections] == ["alerts", "kpis", "drift"]
    assert "Drift of 2026-01-12" in result.summary()


def test_embedding_drift_and_custom_rules(calm) -> None:
    pr = calm.predictions.copy()
    late = pr["ts"] >= pd.Timestamp("2026-01-12", tz="UTC")
    pr.loc[late, "text"] = pr.loc[late, "text"].str.upper()  # same lengths, other content

    def embed(texts):
        # a stand-in for sentence embeddings: share of upper-case letters and length
        return np.array([[sum(c.isupper() for c in t) / len(t), len(t) / 50] for t in texts])

    rule = ThresholdRule("busy", "prediction_volume", ">", 0)
    result = run_monitor(calm.events, pr, calm.feedback, embed=embed, rules=[rule])
    assert result.drift.feature("length_chars").severity == "none"
    assert result.drift.feature("embedding").severity == "major"
    assert [a.rule for a in result.alerts] == ["busy"]


def test_drift_skipped_when_a_period_is_empty(calm) -> None:
    short = calm.predictions[calm.predictions["ts"] < pd.Timestamp("2026-01-08", tz="UTC")]
    result = run_monitor(calm.events, short, drift_days=7, until="2026-01-08")
    assert result.drift is None
    assert "Drift: not computed" in result.summary()
    assert result.to_dict()["drift"] is None
    with pytest.raises(ConfigError, match="drift_days must be >= 1, got 0"):
        run_monitor(calm.events, drift_days=0)
