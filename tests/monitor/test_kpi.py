import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.kpi import KPIS, KpiDefinition, compute_kpis, window_aggregates
from bizmodel.monitor.windows import _count, _distinct, _quantiles

D1, D2 = "2026-01-01", "2026-01-02"


@pytest.fixture()
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    events = pd.DataFrame(
        [
            (1, "u1", "signup", None, f"{D1} 09:00"),
            (2, "u1", "visit", None, f"{D1} 09:05"),
            (3, "u1", "purchase", 10.0, f"{D1} 09:10"),
            (4, "u2", "signup", None, f"{D1} 10:00"),
            (5, "u2", "visit", None, f"{D1} 10:05"),
            (6, "u3", "visit", None, f"{D1} 11:00"),
            (7, "u1", "purchase", 20.0, f"{D2} 08:00"),
            (8, "u2", "churn", None, f"{D2} 08:30"),
            (9, "u3", "visit", None, f"{D2} 09:00"),
            (10, "u5", "signup", None, f"{D2} 10:00"),
            (11, "u5", "purchase", 5.0, f"{D2} 10:30"),
        ],
        columns=["event_id", "user_id", "type", "value", "ts"],
    )
    predictions = pd.DataFrame(
        [
            ("p1", f"{D1} 09:01", "m", "v1", 10.0, 0.001, "u1", 0.5),
            ("p2", f"{D1} 10:01", "m", "v1", 20.0, 0.001, "u2", 0.2),
            ("p3", f"{D1} 12:00", "m", "v1", 30.0, 0.002, "u4", 0.9),
            ("p4", f"{D1} 13:00", "m", "v1", 40.0, 0.0, None, 0.1),
            ("p5", f"{D2} 09:00", "m", "v2", 50.0, 0.01, "u1", 0.3),
        ],
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
    feedback = pd.DataFrame(
        [
            ("p1", f"{D1} 09:02", 5.0, 0.7),
            ("p2", f"{D1} 10:02", 3.0, 0.2),
            ("p5", f"{D2} 09:01", 1.0, None),
        ],
        columns=["prediction_id", "ts", "rating", "label"],
    )
    return events, predictions, feedback


# hand-computed: day 1 active {u1,u2,u3,u4}; day 2 active {u1,u3,u5} (u2 churned)
EXPECTED = {
    "active_users": [4, 3],
    "user_growth_rate": [math.nan, -0.25],
    "new_users": [2, 1],
    "conversion_rate": [0.25, 2 / 3],
    "revenue_usd": [10.0, 25.0],
    "arpu_usd": [2.5, 25 / 3],
    "churn_rate": [math.nan, 0.25],
    "satisfaction": [0.75, 0.0],
    "prediction_volume": [4, 1],
    "latency_p50_ms": [25.0, 50.0],
    "latency_p95_ms": [38.5, 50.0],
    "compute_cost_usd": [0.004, 0.01],
    "cost_usd_per_1k": [1.0, 10.0],
    "gross_margin": [(10 - 0.004) / 10, (25 - 0.01) / 25],
    "live_mae": [0.1, math.nan],
    "live_accuracy": [math.nan, math.nan],  # numeric outputs: MAE, not accuracy
}


def test_every_kpi_matches_hand_computed_daily_values(frames) -> None:
    report = compute_kpis(*frames)
    assert {d.name for d in report.definitions} == set(KPIS) == set(EXPECTED)
    for name, want in EXPECTED.items():
        got = report.series(name).tolist()
        assert got == pytest.approx(want, nan_ok=True), name
    assert report.series("active_users").index[1] == pd.Timestamp(D2, tz="UTC")


def test_weekly_window_override(frames) -> None:
    report = compute_kpis(*frames, kpis=["active_users", "revenue_usd", "churn_rate"], window="7D")
    assert report.series("active_users").tolist() == [5.0]
    assert report.latest("revenue_usd") == 35.0
    assert math.isnan(report.latest("churn_rate"))
    assert report.table["complete"].tolist() == [False] * 3  # the 7-day window runs past the data
    assert {d.window for d in report.definitions} == {"7D"}


def test_start_end_limit_windows_and_completeness(frames) -> None:
    agg = window_aggregates(frames[0], window="1D", start=D2, end="2026-01-03")
    assert len(agg) == 1 and agg["active_users"].tolist() == [3.0]
    assert agg["complete"].tolist() == [True]
    six = window_aggregates(frames[0], window="12h")
    assert six["new_users"].tolist() == [2.0, 0.0, 1.0, 0.0]


def test_to_dict_and_summary(frames) -> None:
    report = compute_kpis(*frames, kpis=["user_growth_rate", "revenue_usd"])
    d = report.to_dict()
    growth = d["kpis"][0]
    assert growth["name"] == "user_growth_rate" and growth["direction"] == "up"
    assert growth["points"][0]["value"] is None and growth["points"][1]["value"] == -0.25
    assert growth["points"][0]["start"] == "2026-01-01T00:00:00+00:00"
    assert "revenue_usd" in report.summary()


def test_custom_kpi_definition(frames) -> None:
    visits_per_user = KpiDefinition(
        "visits_per_user",
        "Visits per active user.",
        "visits / active_users",
        lambda a, _: a["visits"] / a["active_users"],
        unit="visits",
    )
    report = compute_kpis(frames[0], kpis=[visits_per_user])
    assert report.series("visits_per_user").tolist() == pytest.approx(
        [3 / 3, 1 / 3]
    )  # u4 is active only via predictions


def test_without_predictions_and_feedback(frames) -> None:
    report = compute_kpis(frames[0], kpis=["prediction_volume", "gross_margin", "satisfaction"])
    assert report.series("prediction_volume").tolist() == [0.0, 0.0]
    assert report.series("gross_margin").tolist() == [1.0, 1.0]
    assert all(math.isnan(v) for v in report.series("satisfaction"))


def test_live_accuracy_for_label_outputs(frames) -> None:
    _, predictions, feedback = frames
    pr = predictions.assign(output=["up", "down", "up", "up", "down"])
    fb = feedback.assign(label=["up", "up", "down"])
    report = compute_kpis(frames[0], pr, fb, kpis=["live_accuracy", "live_mae"])
    assert report.series("live_accuracy").tolist() == [0.5, 1.0]
    assert all(math.isnan(v) for v in report.series("live_mae"))


def test_unit_scale_ratings(frames) -> None:
    fb = frames[2].assign(rating=[1.0, 0.5, 0.0])
    assert compute_kpis(*frames[:2], fb, kpis=["satisfaction"]).series("satisfaction").tolist() == [
        0.75,
        0.0,
    ]


def test_errors_name_frame_column_and_valid_values(frames) -> None:
    events, predictions, feedback = frames
    with pytest.raises(DataError, match=r"events: missing column\(s\) \['ts'\]"):
        compute_kpis(events.drop(columns="ts"))
    with pytest.raises(DataError, match=r"column 'rating' value 7.0 at row 1 is outside \[1, 5\]"):
        compute_kpis(events, predictions, feedback.assign(rating=[5.0, 7.0, 1.0]))
    with pytest.raises(DataError, match="feedback: needs a 'rating' and/or 'label'"):
        compute_kpis(events, predictions, feedback[["prediction_id", "ts"]])
    with pytest.raises(DataError, match="column 'ts' has values that are not timestamps"):
        compute_kpis(events.assign(ts="yesterday-ish"))
    with pytest.raises(ConfigError, match="unknown KPI 'dau'; known: "):
        compute_kpis(events, kpis=["dau"])
    with pytest.raises(ConfigError, match="window 'daily' is not a duration"):
        compute_kpis(events, window="daily")
    with pytest.raises(DataError, match="KpiReport has no KPI 'x'"):
        compute_kpis(events, kpis=["new_users"]).series("x")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1, 4), st.integers(0, 6), st.floats(0, 1000, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_window_helpers_match_pandas(rows: list[tuple[int, int, float]]) -> None:
    w = np.array([r[0] for r in rows])
    codes = np.array([r[1] for r in rows])
    values = np.array([r[2] for r in rows])
    frame = pd.DataFrame({"w": w, "code": codes, "v": values})
    inside = frame[frame["w"] >= 0].groupby("w")
    n = 5
    want_count = inside.size().reindex(range(n), fill_value=0).to_numpy(dtype=float)
    want_distinct = inside["code"].nunique().reindex(range(n), fill_value=0).to_numpy(dtype=float)
    want_q = inside["v"].quantile(0.95).reindex(range(n)).to_numpy(dtype=float)
    assert _count(w, n).tolist() == want_count.tolist()
    assert _distinct(w, codes, n).tolist() == want_distinct.tolist()
    np.testing.assert_allclose(_quantiles(w, values, n, (0.95,))[:, 0], want_q, rtol=1e-12)
