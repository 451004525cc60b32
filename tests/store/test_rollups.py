"""KPIs from the store's daily rollups equal the pandas path over the event frame (to 1e-12)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.monitor.snapshot import run_monitor
from bizmodel.report.project import store_frames
from bizmodel.store import EventStore, rollups
from bizmodel.store.rollups import event_rollup, rebuild, refresh

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
TYPES = ["visit", "visit", "visit", "signup", "purchase", "churn", "search"]


def _events(rng: np.random.Generator, n: int, first_day: int, n_days: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        kind = str(rng.choice(TYPES))
        ts = T0 + dt.timedelta(days=first_day + float(rng.uniform(0, n_days)))
        row: dict[str, Any] = {"user_id": f"u{rng.integers(0, 40)}", "type": kind, "ts": ts}
        if kind == "purchase" and rng.random() < 0.8:
            row["value"] = float(rng.lognormal(2, 1))
        out.append(row)
    return out


def _store(db_url: str) -> EventStore:
    """Live days 10-17, then a late batch into them, then a historical import of days 0-6
    (one exposure per user in three arms) and predictions by some of the same users."""
    rng = np.random.default_rng(7)
    store = EventStore.open(db_url)
    store.create_experiment("exp", [{"name": a} for a in ("a", "b", "c")])
    store.add_events(_events(rng, 300, 10, 7.5))
    refresh(store)  # folded in: what follows must update it, not start over
    store.add_events(_events(rng, 120, 9, 6))  # late events, days already folded in
    refresh(store)
    history = _events(rng, 250, 0, 7)
    for i, row in enumerate(history):
        row.update(client_event_id=f"h{i}", value=row.get("value"))
        row.update(experiment="exp", variant="abc"[i % 3]) if i < 40 else row.update(
            experiment=None, variant=None
        )
    store.insert_events(history)
    store.log_predictions(
        [
            {
                "model_name": "m",
                "model_version": 1,
                "inputs": {"x": i},
                "output": {"value": float(i)},
                "latency_ms": float(rng.uniform(5, 50)),
                "cost_usd": 1e-5,
                "user_id": None if i % 5 == 0 else f"u{30 + i % 20}",
                "ts": T0 + dt.timedelta(days=3 + float(rng.uniform(0, 12))),
            }
            for i in range(60)
        ]
    )
    return store


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) > 0
    for col in ("kpi", "window", "start", "end", "complete"):
        assert a[col].tolist() == b[col].tolist(), col
    np.testing.assert_allclose(b["value"], a["value"], rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize(
    "options",
    [
        {},  # the store's whole range, the last day partial
        {"window": "7D"},
        {"window": "3D", "start": "2026-03-02", "end": "2026-03-16"},  # complete up to the end
        {"start": "2026-03-05", "end": "2026-03-13"},
        {"max_gap": None},
        {"max_gap": "1D"},  # the gap between the import and the live days is a break
    ],
)
def test_kpis_from_rollups_equal_the_event_frame(db_url: str, options: dict[str, Any]) -> None:
    store = _store(db_url)
    try:
        events, predictions, _ = store_frames(store)
        rollup = event_rollup(store)
    finally:
        store.close()
    assert len(rollup) == len(events) == 670
    want = compute_kpis(events, predictions, None, **options)
    got = compute_kpis(rollup, predictions, None, **options)
    _same(want.table, got.table)
    assert got.table["value"].notna().any()


def test_a_period_of_the_store_equals_the_frames_of_that_period(db_url: str) -> None:
    store = _store(db_url)
    since, until = pd.Timestamp("2026-03-04", tz="UTC"), pd.Timestamp("2026-03-14", tz="UTC")
    try:
        events, predictions, _ = store_frames(store)
        rollup = event_rollup(store, since, until)
    finally:
        store.close()
    ts = pd.to_datetime(events["ts"], utc=True)
    period = events[(ts >= since) & (ts < until)]
    pts = pd.to_datetime(predictions["ts"], utc=True)
    preds = predictions[(pts >= since) & (pts < until)]
    want = run_monitor(period, preds, window="1D", since=since, until=until, all_windows=True)
    got = run_monitor(rollup, preds, window="1D", since=since, until=until, all_windows=True)
    _same(want.kpis.table, got.kpis.table)
    assert [a.to_dict() for a in got.alerts] == [a.to_dict() for a in want.alerts]
    assert got.kpis.table["complete"].all()  # until given: every window known complete


@pytest.mark.parametrize("chunk", [rollups.FOLD_CHUNK, 7])
def test_refresh_folds_in_only_new_events_and_matches_a_rebuild(db_url: str, chunk: int) -> None:
    """Folded at once or 7 events a transaction (36 steps), the rollups equal a rebuild."""
    store = _store(db_url)
    try:
        assert refresh(store, chunk=chunk) == 250  # the historical import, past the store's API
        assert refresh(store) == 0
        store.add_events([{"user_id": "u1", "type": "visit", "ts": "2026-03-01T00:00:00Z"}])
        assert refresh(store) == 1
        incremental = event_rollup(store)
        assert rebuild(store) == 671
        rebuilt = event_rollup(store)
    finally:
        store.close()
    for a, b in (
        (incremental.day_counts, rebuilt.day_counts),
        (incremental.firsts, rebuilt.firsts),
    ):
        key = [c for c in a.columns if c not in ("n", "value_sum")]
        a, b = a.sort_values(key, ignore_index=True), b.sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


@pytest.mark.postgres
def test_events_are_stored_while_a_large_fold_goes_on(
    postgres_url: str, fresh_postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first step of a chunked fold locks ``events``: an insert from another
    connection (2 s lock timeout) waits in vain during it, and goes through during the next."""
    import sqlalchemy as sa

    with fresh_postgres(postgres_url) as url:
        store = EventStore.open(url)
        other = sa.create_engine(url)
        try:
            store.add_events(_events(np.random.default_rng(3), 40, 0, 5))
            inserted: list[str] = []
            real = rollups._fold_activity

            def fold_and_insert(conn: Any, day: str, w: int, m: int) -> None:
                real(conn, day, w, m)
                with other.connect() as c:
                    c.execute(sa.text("SET lock_timeout = '2s'"))
                    try:
                        c.execute(
                            sa.text(
                                "INSERT INTO events (ts, received_ts, user_id, type) "
                                "VALUES (now(), now(), 'live', 'visit')"
                            )
                        )
                        c.commit()
                        inserted.append("stored")
                    except sa.exc.OperationalError:  # lock timeout
                        inserted.append("waited")

            monkeypatch.setattr(rollups, "_fold_activity", fold_and_insert)
            assert refresh(store, chunk=15) == 40  # 3 steps
            assert inserted == ["waited", "stored", "stored"]
            monkeypatch.setattr(rollups, "_fold_activity", real)
            refresh(store)  # the live events inserted meanwhile
            assert event_rollup(store).day_counts["n"].sum() == store.count("events")
        finally:
            other.dispose()
            store.close()


def test_windows_must_be_whole_days_from_a_midnight() -> None:
    store = _store("sqlite://")
    try:
        rollup = event_rollup(store)
        with pytest.raises(ConfigError, match="whole days starting at a midnight"):
            compute_kpis(rollup, window="12h")
        with pytest.raises(ConfigError, match="whole days starting at a midnight"):
            compute_kpis(rollup, start="2026-03-02T06:00:00")
        with pytest.raises(ConfigError, match=r"since: .* is not a midnight"):
            event_rollup(store, since="2026-03-02T06:00:00")
    finally:
        store.close()


def _market_project(tmp_path: Any, db_url: str) -> Any:
    """A project whose store holds a simulated market as the demo writes it: events,
    predictions by the same users (and some by no user), feedback with ratings and labels."""
    from bizmodel.config import Settings
    from bizmodel.simulate.market import MarketConfig, simulate_market

    m = simulate_market(MarketConfig(days=8, seed=0))
    (tmp_path / "bizmodel.toml").write_text(f'database_url = "{db_url}"\n', encoding="utf-8")
    settings = Settings.load(tmp_path, env={})
    store = EventStore.open(settings.resolved_database_url())
    ev = m.events
    store.add_events(
        {"user_id": str(u), "type": t, "value": None if pd.isna(v) else float(v), "ts": ts}
        for u, t, v, ts in zip(ev["user_id"], ev["type"], ev["value"], ev["ts"], strict=True)
    )
    pr = m.predictions.iloc[::20]
    ids = store.log_predictions(
        [
            {
                "model_name": "advisor",
                "model_version": 1,
                "inputs": {"text": r.text},
                "output": {"value": float(r.output)},
                "latency_ms": float(r.latency_ms),
                "cost_usd": float(r.cost_usd),
                "user_id": None if k % 7 == 0 else str(r.user_id),
                "ts": r.ts,
            }
            for k, r in enumerate(pr.itertuples())
        ]
    )
    by_id = dict(zip(pr["prediction_id"], ids, strict=True))
    for r in m.feedback[m.feedback["prediction_id"].isin(by_id)].itertuples():
        store.add_feedback(
            by_id[r.prediction_id], rating=float(r.rating), correction=float(r.label), ts=r.ts
        )
    store.close()
    return settings


def test_monitor_of_a_project_equals_the_event_frame_path(tmp_path: Any, db_url: str) -> None:
    from bizmodel.report.project import monitor_frames, project_monitor

    settings = _market_project(tmp_path, db_url)
    store = EventStore.open(settings.resolved_database_url())
    try:
        frames = store_frames(store)
    finally:
        store.close()
    for options in ({}, {"window": "2D"}, {"since": "2026-01-07", "until": "2026-01-11"}):
        want = monitor_frames(settings, *frames, **options)
        got = project_monitor(settings, **options)
        _same(want.kpis.table, got.kpis.table)
        assert got.to_dict()["alerts"] == want.to_dict()["alerts"]
        assert got.kpis.latest("latency_p95_ms") == want.kpis.latest("latency_p95_ms")
    active = got.kpis.table[got.kpis.table["kpi"] == "active_users"]["value"]
    assert (active > 0).all()


def test_monitor_falls_back_to_the_frames_where_the_rollups_cannot_answer(
    tmp_path: Any,
) -> None:
    from bizmodel.report.project import monitor_frames, project_monitor
    from bizmodel.store.rollups import answers

    assert answers() and answers("2026-01-07", "7D") and answers(None, "2D")
    assert not answers("2026-01-07T06:00:00") and not answers(None, "12h")
    assert not answers("not a date")  # the frame path names the mistake
    settings = _market_project(tmp_path, f"sqlite:///{tmp_path}/bizmodel.db")
    store = EventStore.open(settings.resolved_database_url())
    try:
        frames = store_frames(store)
    finally:
        store.close()
    for options in ({"since": "2026-01-07T06:00:00"}, {"window": "12h"}):
        want = monitor_frames(settings, *frames, **options)
        _same(want.kpis.table, project_monitor(settings, **options).kpis.table)
    with pytest.raises(ConfigError, match="is not a timestamp"):
        project_monitor(settings, since="not a date")


def test_events_posted_to_the_api_while_the_dashboard_reads(tmp_path: Any, db_url: str) -> None:
    """Batches through ``POST /v1/events`` (times in several zones, near midnight, some late),
    the rollups folded after each: the monitor equals the frame path over the same store."""
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.report.project import monitor_frames, project_monitor
    from bizmodel.server import create_app

    key = "test-key-0123456789"
    settings = Settings.load(project_dir=tmp_path, env={}, database_url=db_url, api_keys=(key,))
    rng = np.random.default_rng(3)
    zones = ["Z", "+02:00", "-05:00", "+09:30"]
    with TestClient(create_app(settings)) as client:
        for batch in range(6):
            first = 2 + 2 * batch if batch != 4 else 1  # batch 4 arrives late
            events = []
            for i in range(40):
                day = pd.Timestamp("2026-03-01") + pd.Timedelta(
                    days=first + int(rng.integers(0, 3))
                )
                at = day + pd.Timedelta(hours=float(rng.choice([0.2, 12.0, 23.9])))
                kind = str(rng.choice(TYPES))
                event = {
                    "user_id": f"u{rng.integers(0, 25)}",
                    "type": kind,
                    "ts": at.isoformat() + zones[i % 4],
                    "client_event_id": f"b{batch}-{i}",
                }
                if kind == "purchase":
                    event["value"] = round(float(rng.uniform(1, 50)), 2)
                events.append(event)
            r = client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
            got = project_monitor(settings)  # folds this batch in
    store = EventStore.open(db_url)
    try:
        frames = store_frames(store)
    finally:
        store.close()
    _same(monitor_frames(settings, *frames).kpis.table, got.kpis.table)
    _same(
        monitor_frames(settings, *frames, window="7D").kpis.table,
        project_monitor(settings, window="7D").kpis.table,
    )


def test_a_store_from_before_the_rollups_folds_its_events_in_on_first_read(db_url: str) -> None:
    """A database at revision 0003 with events, then upgraded by ``EventStore.open``: the
    first read folds every old event in."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from bizmodel.store.db import MIGRATIONS_DIR, _make_engine

    engine = _make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            sa.text(
                "INSERT INTO events (ts, received_ts, user_id, type, value) "
                "VALUES (:ts, :ts, :u, :t, :v)"
            ),
            [
                {"ts": T0 + dt.timedelta(hours=7 * i), "u": f"u{i % 4}", "t": t, "v": v}
                for i, (t, v) in enumerate([("visit", None), ("purchase", 5.0)] * 10)
            ],
        )
    engine.dispose()
    store = EventStore.open(db_url)
    try:
        events, _, _ = store_frames(store)
        rollup = event_rollup(store)
    finally:
        store.close()
    assert len(rollup) == len(events) == 20
    _same(compute_kpis(events).table, compute_kpis(rollup).table)
