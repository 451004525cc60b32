"""Exposures as data: historical assignment times and events that carry their experiment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bizmodel.errors import DataError
from bizmodel.store import EventStore
from bizmodel.store.metrics import MetricQuery, experiment_statistics

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str):  # type: ignore[no-untyped-def]
    s = EventStore.open(db_url)
    s.create_experiment("email", [{"name": "control"}, {"name": "mens"}])
    yield s
    s.close()


def _exposure(store: EventStore, user: str) -> tuple[str, datetime]:
    [row] = [r for r in store.assignments("email") if r["user_id"] == user]
    return row["variant"], row["ts"]


def test_a_naive_assignment_time_is_refused(store: EventStore) -> None:
    with pytest.raises(DataError, match=r"assignment: ts '2025-03-01T09:00:00' has no time zone"):
        store.record_assignment("email", "u1", "control", ts="2025-03-01T09:00:00")
    with pytest.raises(DataError, match="has no time zone"):
        store.record_assignment("email", "u1", "control", ts=datetime(2025, 3, 1))
    assert store.assignments("email") == []


def test_the_earliest_exposure_time_is_kept_and_the_variant_never_changes(
    store: EventStore,
) -> None:
    store.record_assignment("email", "u1", "control")  # live, now
    store.record_assignment("email", "u1", "control", ts="2025-03-01T10:00:00+01:00")
    assert _exposure(store, "u1") == ("control", T0)
    store.record_assignment("email", "u1", "control", ts=T0 + timedelta(days=1))  # later: kept
    store.record_assignment("email", "u1", "mens", ts=T0 - timedelta(days=1))  # sticky
    assert _exposure(store, "u1") == ("control", T0)
    assert len(store.assignments("email")) == 1


def test_an_event_with_experiment_and_variant_records_the_exposure(store: EventStore) -> None:
    store.add_events(
        [
            {"user_id": "u1", "type": "exposure", "experiment": "email", "variant": "mens",
             "ts": T0 + timedelta(hours=2)},
            {"user_id": "u1", "type": "exposure", "experiment": "email", "variant": "mens",
             "ts": T0},
            {"user_id": "u2", "type": "purchase", "value": 3.0, "ts": T0},
        ]
    )  # fmt: skip
    assert _exposure(store, "u1") == ("mens", T0)  # the earliest event of the batch
    assert [r["user_id"] for r in store.assignments("email")] == ["u1"]
    store.add_events(
        [{"user_id": "u1", "type": "exposure", "experiment": "email", "variant": "mens",
          "ts": T0 - timedelta(hours=1)}]
    )  # fmt: skip
    assert _exposure(store, "u1") == ("mens", T0 - timedelta(hours=1))
    stored = store.events(user_id="u1")
    assert {(e["experiment"], e["variant"]) for e in stored} == {("email", "mens")}


def test_an_event_under_an_unknown_arm_is_refused_and_nothing_is_stored(
    store: EventStore,
) -> None:
    with pytest.raises(DataError, match=r"event 1: variant 'womens' is not an arm of experiment "
                       r"'email'; its arms: control, mens"):  # fmt: skip
        store.add_events(
            [
                {"user_id": "u1", "type": "visit", "experiment": "email", "variant": "mens"},
                {"user_id": "u2", "type": "visit", "experiment": "email", "variant": "womens"},
            ]
        )
    assert store.count("events") == 0 and store.assignments("email") == []
    with pytest.raises(DataError, match="experiment and variant go together"):
        store.add_events([{"user_id": "u1", "type": "visit", "experiment": "email"}])


def test_an_undefined_experiment_still_records_its_exposures(store: EventStore) -> None:
    store.add_events([{"user_id": "u1", "type": "seen", "experiment": "later", "variant": "b"}])
    assert [r["variant"] for r in store.assignments("later")] == ["b"]


def test_an_event_in_another_arm_than_the_assignment_makes_a_several_arm_user(
    store: EventStore,
) -> None:
    store.record_assignment("email", "u1", "control", ts=T0)
    store.record_assignment("email", "u2", "mens", ts=T0)
    store.add_events(
        [
            {"user_id": "u1", "type": "seen", "experiment": "email", "variant": "mens",
             "ts": T0 + timedelta(hours=1)},
            {"user_id": "u2", "type": "buy", "ts": T0 + timedelta(hours=1)},
        ]
    )  # fmt: skip
    assert _exposure(store, "u1") == ("control", T0)  # the assignment stays sticky ...
    [q] = experiment_statistics(store, "email", {"b": MetricQuery("any", "buy")}).values()
    assert q.users_in_several_arms == 1 and q.several_arms_examples == ("u1",)  # ... but counted
    assert q.statistics["mens"].n == 1 and "control" not in q.statistics
