"""Event store against SQLite and PostgreSQL: migrations, idempotent events, read-back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pandas as pd
import pytest

from bizmodel.errors import ConflictError, DataError, NotFoundError
from bizmodel.store import EventStore


@pytest.fixture
def store(db_url: str):
    s = EventStore.open(db_url)
    yield s
    s.close()


def test_open_migrates_to_head_and_reopens(db_url: str) -> None:
    import sqlalchemy as sa

    EventStore.open(db_url).close()
    s = EventStore.open(db_url)  # second open: nothing to do, no error
    with s.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0008"
        names = set(sa.inspect(conn).get_table_names())
    assert {
        "predictions",
        "feedback",
        "events",
        "experiments",
        "assignments",
        "api_keys",
        "audit_log",
        "rollup_state",
        "event_days",
        "activity_days",
        "activity_firsts",
    } <= names
    s.close()


def test_sqlite_runs_wal_with_full_sync(tmp_path) -> None:
    s = EventStore.open(f"sqlite:///{tmp_path}/x.db")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    s.close()


def test_events_are_idempotent_by_client_event_id(store: EventStore) -> None:
    batch = [
        {"user_id": "u1", "type": "signup", "client_event_id": "a"},
        {"user_id": "u1", "type": "purchase", "value": 9.5, "client_event_id": "b"},
        {"user_id": "u1", "type": "purchase", "value": 9.5, "client_event_id": "b"},  # same batch
        {"user_id": "u2", "type": "visit"},  # no id: always stored
    ]
    first = store.add_events(batch)
    assert (first.received, first.inserted, first.duplicates) == (4, 3, 1)
    again = store.add_events(batch)
    assert (again.inserted, again.duplicates) == (1, 3)
    rows = store.events()
    assert [r["client_event_id"] for r in rows] == ["a", "b", None, None]
    assert rows[1]["value"] == 9.5
    assert store.events(type="purchase")[0]["user_id"] == "u1"


def test_feedback_and_predictions_are_idempotent_by_their_keys(store: EventStore) -> None:
    row = {"id": "a" * 32, "model_name": "m", "model_version": 1, "inputs": {"text": "x"},
           "output": 0.5, "latency_ms": 1.0}  # fmt: skip
    store.log_predictions([row])
    store.log_predictions([{**row, "output": 0.9}, {**row, "id": "b" * 32}])  # a retry + one new
    assert [(p["id"][0], p["output"]) for p in store.predictions()] == [("a", 0.5), ("b", 0.5)]
    first = store.add_feedback("a" * 32, rating=1, client_feedback_id="k1")
    assert store.add_feedback("a" * 32, rating=5, client_feedback_id="k1") == first
    second = store.add_feedback("a" * 32, rating=2, client_feedback_id="k2")
    plain = [store.add_feedback("a" * 32, rating=3) for _ in range(2)]  # no key: both stored
    assert len({first, second, *plain}) == 4
    assert [f["rating"] for f in store.feedback()] == [1, 2, 3, 3]
    with pytest.raises(NotFoundError):
        store.add_feedback("c" * 32, rating=1, client_feedback_id="k3")


def test_event_timestamps_and_properties_round_trip(store: EventStore) -> None:
    store.add_events(
        [
            {
                "user_id": "u",
                "type": "purchase",
                "ts": "2026-01-02T03:04:05+02:00",
                "properties": {"plan": "pro", "seats": 3},
            }
        ]
    )
    (row,) = store.events()
    assert row["ts"] == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)  # aware, also from SQLite
    assert row["ts"].utcoffset() is not None and row["received_ts"].utcoffset() is not None
    assert row["properties"] == {"plan": "pro", "seats": 3}


def test_bad_events_name_the_row(store: EventStore) -> None:
    with pytest.raises(DataError, match=r"event 1: missing type"):
        store.add_events([{"user_id": "u", "type": "x"}, {"user_id": "u"}])
    with pytest.raises(DataError, match=r"event 0: ts 'yesterday' is not an ISO 8601"):
        store.add_events([{"user_id": "u", "type": "x", "ts": "yesterday"}])
    assert store.count("events") == 0  # nothing half-imported


def test_concurrent_writers_store_each_event_once(store: EventStore) -> None:
    def worker(k: int) -> None:
        for b in range(10):
            ids = [f"{k}-{b}-{i}" for i in range(20)]
            events = [{"user_id": f"u{k}", "type": "visit", "client_event_id": e} for e in ids]
            store.add_events(events)
            store.add_events(events[:5])  # retries of part of the batch

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("events") == 4 * 10 * 20


def test_predictions_and_feedback(store: EventStore) -> None:
    (pid,) = store.log_predictions(
        [
            {
                "model_name": "m",
                "model_version": 1,
                "inputs": {"text": "t"},
                "output": 0.25,
                "latency_ms": 3.0,
                "cpu_seconds": 0.002,
                "cost_usd": 2e-8,
                "user_id": "u",
            }
        ]
    )
    (row,) = store.predictions()
    assert row["id"] == pid and row["output"] == 0.25 and row["model_version"] == 1
    assert len(row["input_hash"]) == 64
    fid = store.add_feedback(pid, rating=4, correction=0.5, user_id="u")
    (fb,) = store.feedback()
    assert fb["id"] == fid and fb["prediction_id"] == pid and fb["correction"] == 0.5
    with pytest.raises(NotFoundError, match="no prediction with id 'nope'"):
        store.add_feedback("nope", rating=1)
    with pytest.raises(DataError, match="at least one of rating"):
        store.add_feedback(pid)


def test_experiments_and_assignments(store: EventStore) -> None:
    store.create_experiment("price", [{"name": "a"}, {"name": "b", "weight": 3}], salt="s")
    with pytest.raises(ConflictError, match="experiment 'price' already exists"):
        store.create_experiment("price", [{"name": "a"}])
    assert store.get_experiment("price")["variants"][1] == {"name": "b", "weight": 3.0}
    store.record_assignment("price", "u1", "a")
    store.record_assignment("price", "u1", "b")  # first exposure is kept
    assert [(r["user_id"], r["variant"]) for r in store.assignments("price")] == [("u1", "a")]
    assert store.set_experiment_status("price", "stopped")["status"] == "stopped"
    store.delete_experiment("price")
    with pytest.raises(NotFoundError, match="no experiment named 'price'"):
        store.get_experiment("price")
    assert store.list_experiments() == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_events(store: EventStore, tmp_path, suffix: str) -> None:
    store.add_events(
        [
            {"user_id": "u1", "type": "signup", "client_event_id": "a"},
            {"user_id": "u2", "type": "purchase", "value": 12.5, "properties": {"k": "v"}},
        ]
    )
    out = tmp_path / f"events{suffix}"
    assert store.export_events(out) == 2
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(frame["type"]) == ["signup", "purchase"]
    assert frame["value"].iloc[1] == 12.5
    assert frame["properties"].iloc[1] == '{"k": "v"}'


def test_export_refuses_unknown_format(tmp_path) -> None:
    s = EventStore.open("sqlite://")
    with pytest.raises(DataError, match=r"must end in \.csv or \.parquet"):
        s.export_events(tmp_path / "x.xlsx")
    s.close()


def test_values_the_database_refuses_are_data_errors(store: EventStore) -> None:
    # PostgreSQL cannot store NUL in text; SQLite can. Either way no 5xx-class error.
    try:
        store.create_experiment("nul", [{"name": "a"}], description="bad\x00text")
    except DataError as exc:
        assert store.dialect == "postgresql" and "refused a value" in str(exc)
    else:
        assert store.dialect == "sqlite"


def test_unreachable_or_bad_urls_are_clear_errors() -> None:
    from bizmodel.errors import ConfigError, StoreError

    with pytest.raises(StoreError, match="cannot open the event store"):
        EventStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(ConfigError, match="database URL 'nosuchdb://x' is not usable"):
        EventStore.open("nosuchdb://x")
