"""Per-arm metric statistics in SQL against a plain-Python oracle on random logs (Hypothesis)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizmodel.errors import ConfigError
from bizmodel.stats import MeanStatistic, ProportionStatistic
from bizmodel.store import EventStore
from bizmodel.store.metrics import MetricQuery, experiment_statistics, experiment_units
from bizmodel.store.schema import assignments

T0 = datetime(2026, 5, 1, tzinfo=UTC)
METRICS = {
    "bought": MetricQuery("any", "buy", within_days=2.51),  # 60.24 h: never on a whole hour
    "visits": MetricQuery("count", "visit"),
    "spend": MetricQuery("sum", "buy", within_days=4.01),
}
_counter = itertools.count()

exposure = st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 100))  # c: not planned
user = st.tuples(exposure, st.none() | exposure)  # an assignment and maybe a prediction
event = st.tuples(
    st.integers(0, 11),
    st.sampled_from(["buy", "visit", "other"]),
    st.none() | st.floats(0, 500, allow_nan=False),
    st.integers(-50, 300),
)


@pytest.fixture(scope="module")
def store() -> Iterator[EventStore]:
    s = EventStore.open("sqlite://")
    yield s
    s.close()


def _oracle(users: list[Any], events: list[Any]) -> dict[str, dict[str, Any]]:
    """Per metric: {arm: (n, Σy, Σy²)}, and the counts left out, computed in plain Python."""
    expo = {}
    for i, (first, second) in enumerate(users):
        ex = [first] + ([second] if second else [])
        expo[i] = ({v for v, _ in ex}, min(h for _, h in ex))
    several = sum(len(v) > 1 for v, _ in expo.values())
    out: dict[str, dict[str, Any]] = {}
    for name, m in METRICS.items():
        arms: dict[str, list[float]] = {}
        before = late = novalue = 0
        for i, (variants, t0) in expo.items():
            if len(variants) > 1 or not variants <= {"a", "b"}:
                if len(variants) == 1:  # unplanned arm: counted, not analysed
                    arms.setdefault(next(iter(variants)), []).append(0.0)
                continue
            mine = [e for e in events if e[0] % len(users) == i and e[1] == m.event]
            counted = []
            for _, _, value, h in mine:
                if h < t0:
                    before += 1
                elif m.within_days is not None and (h - t0) / 24 > m.within_days:
                    late += 1
                else:
                    counted.append(value)
            novalue += sum(v is None for v in counted)
            y = {
                "any": float(bool(counted)),
                "count": float(len(counted)),
                "sum": math.fsum(v or 0.0 for v in counted),
            }[m.type]
            arms.setdefault(next(iter(variants)), []).append(y)
        out[name] = {
            "arms": {
                k: (len(v), math.fsum(v), math.fsum(y * y for y in v)) for k, v in arms.items()
            },
            "before": before,
            "late": late,
            "novalue": novalue if m.type == "sum" else 0,
            "several": several,
        }
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(user, min_size=1, max_size=12), st.lists(event, max_size=40))
def test_sql_statistics_equal_the_python_oracle(
    store: EventStore, users: list[Any], events: list[Any]
) -> None:
    k = next(_counter)
    exp, uid = f"x{k}", (lambda i: f"p{k}-u{i}")
    store.create_experiment(exp, [{"name": "a"}, {"name": "b"}])
    with store.engine.begin() as conn:
        conn.execute(
            assignments.insert(),
            [
                {"experiment": exp, "user_id": uid(i), "variant": v, "ts": T0 + timedelta(hours=h)}
                for i, ((v, h), _) in enumerate(users)
            ],
        )
    preds = [
        {
            "model_name": "m",
            "model_version": 1,
            "inputs": {},
            "output": 0,
            "latency_ms": 1.0,
            "user_id": uid(i),
            "experiment": exp,
            "variant": second[0],
            "ts": T0 + timedelta(hours=second[1]),
        }
        for i, (_, second) in enumerate(users)
        if second
    ]
    store.log_predictions(preds)
    rows = [
        {
            "user_id": uid(u % len(users)),
            "type": t,
            "value": v,
            "ts": T0 + timedelta(hours=h),
        }
        for u, t, v, h in events
    ]
    store.add_events(rows)
    got = experiment_statistics(store, exp, METRICS, variants=["a", "b"])
    want = _oracle(users, events)
    for name, m in METRICS.items():
        q, w = got[name], want[name]
        planned = {a: s for a, s in w["arms"].items() if a in ("a", "b")}
        assert set(q.statistics) == set(planned), name
        for a, (n, sy, syy) in planned.items():
            s = q.statistics[a]
            assert isinstance(s, ProportionStatistic if m.type == "any" else MeanStatistic)
            assert s.n == n and s.sum == pytest.approx(sy, rel=1e-12, abs=1e-9), (name, a)
            if isinstance(s, MeanStatistic):
                assert s.sum_squares == pytest.approx(syy, rel=1e-12, abs=1e-9)
        assert q.unknown_variants == ({"c": w["arms"]["c"][0]} if "c" in w["arms"] else {})
        assert q.users_in_several_arms == w["several"]
        assert (q.events_before_exposure, q.events_after_window) == (w["before"], w["late"])
        assert q.events_without_value == w["novalue"]
    # the per-user table holds exactly the users and values behind those sums
    units = experiment_units(store, exp, METRICS, variants=["a", "b"])
    assert set(units["variant"]) <= {"a", "b"} and units["user_id"].is_unique
    for name in METRICS:
        for a, s in got[name].statistics.items():
            y = units.loc[units["variant"] == a, name].to_numpy()
            assert len(y) == s.n
            assert math.fsum(y) == pytest.approx(s.sum, rel=1e-12, abs=1e-9), (name, a)


def test_a_metric_needs_a_known_type() -> None:
    with pytest.raises(ConfigError, match="metric type must be 'any', 'count' or 'sum'"):
        MetricQuery("avg", "buy")  # type: ignore[arg-type]


def test_units_sum_exactly_to_the_arm_statistics(db_url: str) -> None:
    """Values that add exactly in binary: the per-user table and the per-arm sums agree to
    the last bit; a user in several arms and one under an unknown label are left out."""
    store = EventStore.open(db_url)
    store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
    arms = {f"u{i}": "ab"[i % 2] for i in range(9)} | {"odd": "c"}
    for u, v in arms.items():
        store.record_assignment("e", u, v)
    store.log_predictions(
        [
            {
                "model_name": "m",
                "model_version": 1,
                "inputs": {},
                "output": 0,
                "latency_ms": 1.0,
                "user_id": "u0",
                "experiment": "e",
                "variant": "b",
            }
        ]
    )
    store.add_events(
        [{"user_id": f"u{i % 9}", "type": "buy", "value": 0.25 * (i + 1)} for i in range(20)]
        + [{"user_id": "u3", "type": "visit"}, {"user_id": "odd", "type": "buy", "value": 1.0}]
    )
    got = experiment_statistics(store, "e", METRICS, variants=["a", "b"])
    units = experiment_units(store, "e", METRICS, variants=["a", "b"])
    store.close()
    assert list(units.columns) == ["user_id", "variant", "bought", "visits", "spend"]
    assert sorted(units["user_id"]) == [f"u{i}" for i in range(1, 9)]  # u0: two arms; odd: c
    for name in METRICS:
        for a in ("a", "b"):
            s, y = got[name].statistics[a], units.loc[units["variant"] == a, name]
            assert (len(y), float(y.sum())) == (s.n, s.sum)
            if isinstance(s, MeanStatistic):
                assert float((y * y).sum()) == s.sum_squares
    spend = dict(zip(units["user_id"], units["spend"], strict=True))
    assert spend["u4"] == 0.25 * (4 + 1) + 0.25 * (13 + 1)  # events 4 and 13


def _page_log(store: EventStore) -> None:
    """20 users exposed as events (u_i at hour i, control for even i) with the page they saw;
    u3 saw the wrong page, u4 later bought on the wrong page, u6 bought with no page (not a
    mismatch), u8 was also exposed as treatment on its page (several arms), u10 as treatment
    on the control page (a mismatch first). Each u_i buys 0.25·i one hour after exposure."""
    page = {"control": "old", "treatment": "new"}
    rows: list[dict[str, Any]] = []
    for i in range(20):
        u, arm, t = f"u{i}", ("control", "treatment")[i % 2], T0 + timedelta(hours=i)
        shown = page["control" if i == 3 else arm]
        rows.append({"user_id": u, "type": "view", "experiment": "lp", "variant": arm, "ts": t})
        rows[-1]["properties"] = {"page": shown, "device": "ios"}
        buy = {"user_id": u, "type": "buy", "value": 0.25 * i, "ts": t + timedelta(hours=1)}
        if i == 4:
            buy["properties"] = {"page": "new"}
        elif i != 6:
            buy["properties"] = {"page": page[arm], "n": 1}
        rows.append(buy)
    for i, shown in ((8, "new"), (10, "old")):
        t = T0 + timedelta(hours=i, minutes=30)
        rows.append(
            {"user_id": f"u{i}", "type": "view", "experiment": "lp", "variant": "treatment"}
            | {"ts": t, "properties": {"page": shown}}
        )
    store.add_events(rows)


def test_window_and_exposure_rule_in_sql(db_url: str) -> None:
    from bizmodel.stats.exposure import ExposureRule

    store = EventStore.open(db_url)
    _page_log(store)
    metrics = {"spend": MetricQuery("sum", "buy"), "bought": MetricQuery("any", "buy")}
    rule = ExposureRule("page", {"control": "old", "treatment": "new"})
    counted = ExposureRule("n", {"control": "1", "treatment": "1"})  # a number, held by buys
    window = {"start": T0 + timedelta(hours=2), "end": T0 + timedelta(hours=18)}
    got = experiment_statistics(store, "lp", metrics, expect=[rule, counted], **window)
    units = experiment_units(store, "lp", metrics, expect=[rule], **window)
    whole = experiment_statistics(store, "lp", metrics)
    store.close()
    q = got["spend"]
    # in the window: u2..u17; u3, u4 (control) and u10 (several arms) break the rule
    assert q.users_exposure_mismatch == {"treatment": 1, "control": 1, "(several arms)": 1}
    assert q.exposure_mismatch_examples == ("u10", "u3", "u4")
    assert (q.users_in_several_arms, q.several_arms_examples) == (1, ("u8",))
    control = [2, 6, 12, 14, 16]
    treatment = [5, 7, 9, 11, 13, 15, 17]
    for arm, ids in (("control", control), ("treatment", treatment)):
        s = q.statistics[arm]
        assert isinstance(s, MeanStatistic)
        assert (s.n, s.sum, s.sum_squares) == (
            len(ids),
            sum(0.25 * i for i in ids),
            sum((0.25 * i) ** 2 for i in ids),
        )
        assert got["bought"].statistics[arm] == ProportionStatistic(len(ids), len(ids))
    assert sorted(units["user_id"]) == sorted(f"u{i}" for i in control + treatment)
    # without the window and the rule: every user, u8 and u10 in several arms
    assert (
        whole["spend"].users_in_several_arms == 2 and whole["spend"].users_exposure_mismatch == {}
    )
    assert sum(s.n for s in whole["spend"].statistics.values()) == 18
