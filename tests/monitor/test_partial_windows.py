"""Windows on real timelines: the partial last window, breaks in the log, --since/--until."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.config import Settings, init_project
from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.alerts import DEFAULT_RULES, evaluate_rules
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.monitor.snapshot import run_monitor
from bizmodel.monitor.windows import window_aggregates
from bizmodel.store import EventStore


def _days(first: str, n_days: int, users: int = 10, hours: int = 24) -> list[tuple[Any, ...]]:
    """``users`` visitors a day, spread over the first ``hours`` hours of each day."""
    rows = []
    for d in pd.date_range(first, periods=n_days, freq="D"):
        for u in range(users):
            rows.append((f"u{u}", "visit", None, d + pd.Timedelta(hours=hours * u / users)))
    return rows


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "type", "value", "ts"])
    df.insert(0, "event_id", range(len(df)))
    return df


def test_the_last_partial_day_is_marked_and_never_alerts() -> None:
    # three whole days of 10 users, then the morning of the fourth: 5 users so far
    events = _frame(_days("2026-03-01", 3) + _days("2026-03-04", 1, users=5, hours=10))
    kpis = compute_kpis(events)
    table = kpis.table[kpis.table["kpi"] == "active_users"]
    assert table["complete"].tolist() == [True, True, True, False]
    assert table["value"].tolist() == [10, 10, 10, 5]
    assert evaluate_rules(DEFAULT_RULES, kpis=kpis) == []
    assert evaluate_rules(DEFAULT_RULES, kpis=kpis, all_windows=True) == []
    assert kpis.latest("active_users", complete_only=True) == 10
    assert "(windows from 2026-03-04T00:00:00+00:00 on are partial" in kpis.summary()
    # declared complete up to the end of the fourth day: now the drop is real
    whole = compute_kpis(events, end="2026-03-05")
    [alert] = evaluate_rules(DEFAULT_RULES, kpis=whole)
    assert alert.rule == "active users falling" and alert.window_start == "2026-03-04"


def test_a_window_is_complete_only_when_the_data_reaches_its_end() -> None:
    events = _frame(_days("2026-03-01", 2))  # last event 2026-03-02 21:36
    agg = window_aggregates(events)
    assert agg["complete"].tolist() == [True, False]
    midnight = _frame([*_days("2026-03-01", 2), ("u1", "visit", None, pd.Timestamp("2026-03-03"))])
    assert window_aggregates(midnight)["complete"].tolist() == [True, True, False]


def test_historical_import_then_live_events_gives_the_datas_windows() -> None:
    history = _days("2016-03-01", 14)
    live = [("u0", "visit", None, pd.Timestamp("2026-12-06 09:00"))]
    result = run_monitor(_frame(history + live))
    points = result.to_dict()["kpis"]["kpis"][0]["points"]
    assert len(points) == 15  # 14 historical days and today, not 3,931 days
    assert points[-1]["start"] == "2026-12-06T00:00:00+00:00" and not points[-1]["complete"]
    growth = result.kpis.series("user_growth_rate")
    assert math.isnan(growth.iloc[-1]) and growth.iloc[1] == 0.0  # no rate across the break
    assert result.alerts == ()
    everything = window_aggregates(_frame(history + live), max_gap=None)
    assert len(everything) == (pd.Timestamp("2026-12-07") - pd.Timestamp("2016-03-01")).days


def test_a_quiet_day_is_data_and_alerts() -> None:
    # day 3 has no events at all: kept as a zero window, and the drop to it is an alert
    events = _frame(_days("2026-03-01", 2) + _days("2026-03-04", 2))
    kpis = compute_kpis(events, end="2026-03-06")
    assert kpis.series("active_users").tolist() == [10, 10, 0, 10, 10]
    fired = evaluate_rules(DEFAULT_RULES, kpis=kpis, all_windows=True)
    assert [a.window_start for a in fired] == ["2026-03-03"]


def test_since_and_until_pick_the_period() -> None:
    events = _frame(_days("2026-03-01", 10))
    kpis = compute_kpis(events, kpis=["active_users"], start="2026-03-03", end="2026-03-06")
    rows = kpis.table
    assert [s.day for s in rows["start"]] == [3, 4, 5] and rows["complete"].all()
    with pytest.raises(ConfigError, match="'March 3rd' is not a timestamp; give an ISO date"):
        compute_kpis(events, start="March 3rd")
    with pytest.raises(ConfigError, match="the period is empty: it starts at 2026-03-05"):
        compute_kpis(events, start="2026-03-05", end="2026-03-04")
    with pytest.raises(DataError, match="no events, predictions or feedback from 2025-01-01"):
        compute_kpis(events, start="2025-01-01", end="2025-03-01")


def test_monitor_command_since_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_project(tmp_path / "p")
    store = EventStore.open(Settings.load(tmp_path / "p", env={}).resolved_database_url())
    store.add_events(
        {"user_id": u, "type": t, "ts": ts.isoformat()}
        for u, t, _, ts in _days("2026-03-01", 5) + _days("2026-03-06", 1, users=3, hours=6)
    )
    store.close()
    base = ["monitor", "--project", str(tmp_path / "p"), "--json"]
    assert run(base) == 0
    out = json.loads(capsys.readouterr().out)
    active = out["kpis"]["kpis"][0]["points"]
    assert [p["complete"] for p in active] == [True] * 5 + [False]
    assert out["alerts"] == []  # 10 -> 3 users on the partial day is not a drop
    assert run([*base, "--since", "2026-03-02", "--until", "2026-03-07"]) == 0
    out = json.loads(capsys.readouterr().out)
    active = out["kpis"]["kpis"][0]["points"]
    assert len(active) == 5 and all(p["complete"] for p in active)
    assert [a["rule"] for a in out["alerts"]] == ["active users falling"]
    assert run([*base, "--until", "soon"]) == 1
    assert capsys.readouterr().err.startswith("Error: 'soon' is not a timestamp")


def test_no_data_at_all() -> None:
    empty = _frame([])
    with pytest.raises(DataError, match="all empty; give start and end"):
        window_aggregates(empty)
    agg = window_aggregates(empty, start="2026-01-01", end="2026-02-01")
    assert len(agg) == 31 and agg["active_users"].sum() == 0 and agg["complete"].all()
