"""The filters' SQL on SQLite and PostgreSQL: segment users, the segment menu, what each model
version served, exposures and the period's frames, against counts written down by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bizmodel.errors import ConfigError
from bizmodel.store import EventStore
from bizmodel.webapp import queries

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture()
def store(db_url: str) -> Any:
    s = EventStore.open(db_url)
    s.create_experiment("checkout", [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}])
    s.add_events(
        [
            {"user_id": "u1", "type": "signup", "ts": _day(0), "properties": {"plan": "pro"}},
            {"user_id": "u2", "type": "signup", "ts": _day(0), "properties": {"plan": "free"}},
            {"user_id": "u3", "type": "signup", "ts": _day(5),
             "properties": {"plan": "pro", "cohort": 3, "beta": True}},
            # an id-like property with more values than the menu lists
            *({"user_id": f"x{i}", "type": "visit", "ts": _day(1), "properties": {"ref": f"r{i}"}}
              for i in range(13)),
            {"user_id": "u1", "type": "page_view", "ts": _day(1), "experiment": "checkout",
             "variant": "a"},
            {"user_id": "u2", "type": "page_view", "ts": _day(1), "experiment": "checkout",
             "variant": "b"},
            {"user_id": "u3", "type": "page_view", "ts": _day(6), "experiment": "checkout",
             "variant": "b"},
        ]
    )  # fmt: skip
    rows = [
        {"model_name": "m", "model_version": v, "inputs": {"text": "t"}, "output": {"value": 1.0},
         "latency_ms": ms, "cost_usd": 0.5, "user_id": u, "ts": _day(d)}
        for v, ms, u, d in [(1, 10.0, "u1", 1), (1, 30.0, "u2", 1), (2, 5.0, "u3", 6),
                            (2, 7.0, "u1", 6), (1, 1.0, "u1", 20)]
    ]  # fmt: skip
    ids = s.log_predictions(rows)
    s.add_feedback(ids[0], correction=0.9, ts=_day(2))  # u1's
    s.add_feedback(ids[1], correction=0.1, ts=_day(2))  # u2's
    yield s
    s.close()


def test_segment_users_by_arm_or_property(store) -> None:
    def users(key: str, value: str) -> set[str]:
        stmt = queries.segment_users(store, key, value)
        with store.engine.connect() as conn:
            return {u for (u,) in conn.execute(stmt)}

    assert users("checkout", "b") == {"u2", "u3"}  # an experiment's arm
    assert users("plan", "pro") == {"u1", "u3"}  # an event property
    assert users("plan", "enterprise") == set()
    assert users("cohort", "3") == {"u3"}  # a number compares as its text on both databases
    with pytest.raises(ConfigError, match="'tier' is neither an experiment nor a property"):
        queries.segment_users(store, "tier", "gold")


def test_segment_menu_lists_arms_and_few_valued_properties(store) -> None:
    assert queries.segment_choices(store) == [
        ("checkout=a", "checkout: arm a"),
        ("checkout=b", "checkout: arm b"),
        ("cohort=3", "cohort = 3"),
        ("plan=free", "plan = free"),
        ("plan=pro", "plan = pro"),
    ]  # "ref" has 13 values, "beta" is true (its text differs by database): left out


def test_served_exposures_and_frames_follow_the_filters(store) -> None:
    week = (_day(0), _day(7))
    served = queries.served_by_version(store, *week)
    assert served[("m", 1)] == queries.Served(2, 20.0, 1.0)  # the day-20 one is outside
    assert served[("m", 2)] == queries.Served(2, 6.0, 1.0)
    arm_b = queries.segment_users(store, "checkout", "b")
    assert queries.served_by_version(store, *week, arm_b) == {
        ("m", 1): queries.Served(1, 30.0, 0.5),
        ("m", 2): queries.Served(1, 5.0, 0.5),
    }
    assert queries.exposures(store)["checkout"].counts == {"a": 1, "b": 2}
    late = queries.exposures(store, _day(3), _day(7))["checkout"]
    assert late.counts == {"b": 1} and late.first == _day(6)
    pro = queries.segment_users(store, "plan", "pro")
    events, predictions, feedback = queries.period_frames(store, *week, pro)
    assert sorted(set(events["user_id"])) == ["u1", "u3"]
    assert sorted(predictions["user_id"]) == ["u1", "u1", "u3"]
    assert feedback["label"].tolist() == [0.9]  # feedback follows its prediction's user
