"""The few aggregations the web app needs beyond the library's, run in SQL.

Each function takes an open :class:`~bizmodel.store.EventStore` and returns plain values; no
table is loaded into memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bizmodel.store import EventStore

__all__ = [
    "Exposures",
    "exposures",
    "last_event_time",
    "period_frames",
    "segment_choices",
    "segment_users",
    "served_by_version",
]


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def last_event_time(store: EventStore) -> dt.datetime | None:
    """Timestamp of the latest event (UTC), or None for an empty store."""
    from sqlalchemy import func, select

    from bizmodel.store.schema import events

    with store.engine.connect() as conn:
        return _utc(conn.execute(select(func.max(events.c.ts))).scalar())


@dataclass(frozen=True)
class Exposures:
    """Users exposed per variant of one experiment, and when the first one was."""

    counts: dict[str, int]  # variant -> distinct users assigned
    first: dt.datetime | None  # first exposure (UTC)


def exposures(
    store: EventStore,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    users: Any = None,
) -> dict[str, Exposures]:
    """Exposure counts per experiment and variant (one GROUP BY over the assignments), of
    users first exposed in ``[since, until)`` and in ``users`` (a select of user ids) when
    given."""
    from sqlalchemy import func, select

    from bizmodel.store.schema import assignments as a

    stmt = select(a.c.experiment, a.c.variant, func.count(), func.min(a.c.ts)).group_by(
        a.c.experiment, a.c.variant
    )
    if since is not None and until is not None:
        stmt = stmt.where(a.c.ts >= since, a.c.ts < until)
    if users is not None:
        stmt = stmt.where(a.c.user_id.in_(users))
    counts: dict[str, dict[str, int]] = {}
    firsts: dict[str, list[dt.datetime]] = {}
    with store.engine.connect() as conn:
        for experiment, variant, n, first in conn.execute(stmt):
            counts.setdefault(experiment, {})[variant] = int(n)
            ts = _utc(first)
            if ts is not None:
                firsts.setdefault(experiment, []).append(ts)
    return {e: Exposures(c, min(firsts[e]) if firsts.get(e) else None) for e, c in counts.items()}


def period_frames(
    store: EventStore, since: dt.datetime, until: dt.datetime, users: Any = None
) -> tuple[Any, Any, Any]:
    """The KPI input frames of ``[since, until)`` only, as
    :func:`bizmodel.report.project.store_frames` shapes them (predictions with
    ``prediction_id`` and ``output``, feedback with ``label``; events without the ``arm`` and
    ``properties`` that no KPI reads); predictions and feedback are None when there are none.

    The time filter runs in SQL (``ix_events_ts``) and timestamps come back as text parsed in
    one vectorised step, not a Python ``datetime`` per row; KPI windows ignore rows outside
    their range, so the numbers equal those computed from every event. ``users`` (a select
    of user ids, :func:`segment_users`) keeps only those users' rows (feedback: the feedback
    on their predictions).

    For whole days and every user (``since`` and ``until`` midnights UTC, no ``users``) the
    events come as the store's daily rollups (:func:`bizmodel.store.rollups.event_rollup`),
    which every KPI function takes in place of the frame: the same numbers, without reading
    the period's events (1M events: 0.02 s instead of seconds).
    """
    import pandas as pd
    from sqlalchemy import String, cast, select

    from bizmodel.report.project import _output_value
    from bizmodel.store.rollups import event_rollup, is_midnight
    from bizmodel.store.schema import events, feedback, predictions

    def frame(table: Any, columns: list[Any], names: list[str], raw: bool = False) -> pd.DataFrame:
        stmt = select(*columns).where(table.c.ts >= since, table.c.ts < until)
        if users is not None and table is feedback:  # feedback follows its prediction's user
            served = select(predictions.c.id).where(predictions.c.user_id.in_(users))
            stmt = stmt.where(table.c.prediction_id.in_(served))
        elif users is not None:
            stmt = stmt.where(table.c.user_id.in_(users))
        with store.engine.connect() as conn:
            result = conn.execute(stmt)
            # raw: the driver's tuples as they are (no per-row processing; only for columns
            # that need none); else plain tuples, which pandas takes without probing each Row
            rows = result.cursor.fetchall() if raw else [tuple(r) for r in result]
        df = pd.DataFrame.from_records(rows, columns=names)
        df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
        return df

    ev: Any
    if users is None and is_midnight(since) and is_midnight(until):
        ev = event_rollup(store, since, until)  # whole days: the daily rollups, no event rows
    else:
        ts = cast(events.c.ts, String).label("ts")
        ev = frame(
            events,
            [events.c.id, ts, events.c.user_id, events.c.type, events.c.value],
            ["event_id", "ts", "user_id", "type", "value"],
            raw=True,  # ids, text and numbers: nothing to convert
        )
    p_cols = [c for c in predictions.c if c.name != "ts"]
    pr = frame(
        predictions,
        [cast(predictions.c.ts, String).label("ts"), *p_cols],
        ["ts", *(c.name for c in p_cols)],
    ).rename(columns={"id": "prediction_id"})
    if not pr.empty:
        pr["output"] = pr["output"].map(_output_value)
    f_cols = [c for c in feedback.c if c.name != "ts"]
    fb = frame(
        feedback,
        [cast(feedback.c.ts, String).label("ts"), *f_cols],
        ["ts", *(c.name for c in f_cols)],
    )
    if not fb.empty:
        fb["label"] = pd.to_numeric(fb["correction"], errors="coerce")
    return ev, (pr if not pr.empty else None), (fb if not fb.empty else None)


def segment_users(store: EventStore, key: str, value: str) -> Any:
    """A select of the user ids in segment ``key=value``: those assigned to arm ``value`` of
    experiment ``key``, or, when no experiment is called ``key``, those with an event whose
    property ``key`` is ``value``.

    Raises
    ------
    ConfigError
        When ``key`` names neither an experiment nor a property of any event.
    """
    from sqlalchemy import String, cast, select

    from bizmodel.errors import ConfigError
    from bizmodel.store.schema import assignments as a
    from bizmodel.store.schema import events as e
    from bizmodel.store.schema import experiments as x

    with store.engine.connect() as conn:
        if conn.execute(select(x.c.name).where(x.c.name == key)).first() is not None:
            return select(a.c.user_id).where(a.c.experiment == key, a.c.variant == value)
        # as text on both databases: SQLite's json_extract gives the number 3 for 3, not '3'
        prop = cast(e.c.properties[key].as_string(), String)
        if conn.execute(select(e.c.id).where(prop.is_not(None)).limit(1)).first() is None:
            raise ConfigError(
                f"segment {key}={value}: {key!r} is neither an experiment nor a property of "
                "any event; valid: EXPERIMENT=ARM or PROPERTY=VALUE"
            )
    return select(e.c.user_id).where(prop == value).distinct()


def segment_choices(
    store: EventStore, max_values: int = 12, scan: int = 20_000
) -> list[tuple[str, str]]:
    """``(segment, label)`` pairs for the filter's menu: every experiment arm with
    exposures, then each property of the latest ``scan`` events with properties that takes at
    most ``max_values`` values there (ids and free text are left out). One bounded read: the
    menu costs the same on a store of a thousand events and of a million."""
    from sqlalchemy import select

    from bizmodel.store.schema import assignments as a
    from bizmodel.store.schema import events as e

    out: list[tuple[str, str]] = []
    values: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        arms = select(a.c.experiment, a.c.variant).distinct().order_by(a.c.experiment, a.c.variant)
        for experiment, variant in conn.execute(arms):
            out.append((f"{experiment}={variant}", f"{experiment}: arm {variant}"))
        recent = select(e.c.properties).where(e.c.properties.is_not(None))
        for (props,) in conn.execute(recent.order_by(e.c.id.desc()).limit(scan)):
            for k, v in (props if isinstance(props, dict) else {}).items():
                # text and whole numbers read the same on both databases; true does not
                seen = values.setdefault(k, set())
                if isinstance(v, str | int) and not isinstance(v, bool) and len(seen) <= max_values:
                    seen.add(str(v))
    for key in sorted(values):
        if len(values[key]) <= max_values:
            out += [(f"{key}={v}", f"{key} = {v}") for v in sorted(values[key])]
    return out


@dataclass(frozen=True)
class Served:
    """Predictions one model version served in a period."""

    predictions: int
    mean_latency_ms: float
    cost_usd: float  # sum of the stored per-prediction compute cost


def served_by_version(
    store: EventStore, since: dt.datetime, until: dt.datetime, users: Any = None
) -> dict[tuple[str, int], Served]:
    """Per ``(model, version)``: predictions served in ``[since, until)`` (to ``users`` when
    given), their mean latency and compute cost (one GROUP BY)."""
    from sqlalchemy import func, select

    from bizmodel.store.schema import predictions as p

    stmt = (
        select(
            p.c.model_name,
            p.c.model_version,
            func.count(),
            func.avg(p.c.latency_ms),
            func.sum(p.c.cost_usd),
        )
        .where(p.c.ts >= since, p.c.ts < until)
        .group_by(p.c.model_name, p.c.model_version)
    )
    if users is not None:
        stmt = stmt.where(p.c.user_id.in_(users))
    with store.engine.connect() as conn:
        return {
            (str(name), int(version)): Served(int(n), float(lat or 0.0), float(cost or 0.0))
            for name, version, n, lat, cost in conn.execute(stmt)
        }
