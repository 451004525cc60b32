"""The store cache's key: every write that can change an analysis changes the store's state."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bizmodel.store import EventStore
from bizmodel.store.cache import StoreCache, store_state


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore.open(db_url)
    s.create_experiment("e", [{"name": "a"}, {"name": "b"}])
    s.record_assignment("e", "u1", "a", ts="2026-03-02T10:00:00+00:00")
    s.add_events([{"user_id": "u1", "type": "visit", "ts": "2026-03-02T11:00:00+00:00"}])
    return s


PREDICTION = {"model_name": "m", "model_version": 1, "inputs": {}, "output": 1, "latency_ms": 1.0}
WRITES: dict[str, Callable[[EventStore], object]] = {
    "event": lambda s: s.add_events([{"user_id": "u2", "type": "visit"}]),
    "exposure": lambda s: s.record_assignment("e", "u2", "b"),
    # history imported after live traffic: the same row, its time moved a day earlier
    "exposure moved earlier": lambda s: s.record_assignment(
        "e", "u1", "a", ts="2026-03-01T10:00:00+00:00"
    ),
    "experiment": lambda s: s.create_experiment("f", [{"name": "a"}, {"name": "b"}]),
    "stopped": lambda s: s.set_experiment_status("e", "stopped"),
    "deleted": lambda s: s.delete_experiment("e"),
    "prediction": lambda s: s.log_predictions([PREDICTION]),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_write_changes_the_state(store: EventStore, write: str) -> None:
    before = store_state(store)
    assert store_state(store) == before  # reading changes nothing
    WRITES[write](store)
    assert store_state(store) != before
    store.close()


def test_an_exposure_sent_again_later_keeps_the_state(store: EventStore) -> None:
    before = store_state(store)
    store.record_assignment("e", "u1", "a", ts="2026-03-05T10:00:00+00:00")  # sticky: no change
    assert store_state(store) == before
    store.close()


def test_values_are_computed_once_per_state_and_bounded(store: EventStore) -> None:
    cache = StoreCache(maxsize=2)
    calls: list[int] = []

    def count() -> list[int]:
        calls.append(1)
        return [store.count("events")]

    first = cache.get(store, "n", "x", count)
    assert cache.get(store, "n", "x", count) is first and len(calls) == 1
    assert cache.get(store, "n", "y", count) == [1] and len(calls) == 2  # other inputs
    store.add_events([{"user_id": "u2", "type": "visit"}])
    assert cache.get(store, "n", "x", count) == [2] and len(calls) == 3
    assert len(cache) == 2 and (cache.hits, cache.misses) == (1, 3)
    cache.get(store, "n", "y", count)  # evicted by the newest two: computed again
    assert len(calls) == 4
    store.close()
