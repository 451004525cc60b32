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

__all__ = ["Exposures", "exposures", "last_event_time", "period_frames"]


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


def exposures(store: EventStore) -> dict[str, Exposures]:
    """Exposure counts per experiment and variant (one GROUP BY over the assignments)."""
    from sqlalchemy import func, select

    from bizmodel.store.schema import assignments as a

    stmt = select(a.c.experiment, a.c.variant, func.count(), func.min(a.c.ts)).group_by(
        a.c.experiment, a.c.variant
    )
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
    store: EventStore, since: dt.datetime, until: dt.datetime
) -> tuple[Any, Any, Any]:
    """The KPI input frames of ``[since, until)`` only, as
    :func:`bizmodel.report.project.store_frames` shapes them (predictions with
    ``prediction_id`` and ``output``, feedback with ``label``; events without the ``arm`` and
    ``properties`` that no KPI reads); predictions and feedback are None when there are none.

    The time filter runs in SQL (``ix_events_ts``) and timestamps come back as text parsed in
    one vectorised step, not a Python ``datetime`` per row; KPI windows ignore rows outside
    their range, so the numbers equal those computed from every event.
    """
    import pandas as pd
    from sqlalchemy import String, cast, select

    from bizmodel.report.project import _output_value
    from bizmodel.store.schema import events, feedback, predictions

    def frame(table: Any, columns: list[Any], names: list[str], raw: bool = False) -> pd.DataFrame:
        stmt = select(*columns).where(table.c.ts >= since, table.c.ts < until)
        with store.engine.connect() as conn:
            result = conn.execute(stmt)
            # raw: the driver's tuples as they are (no per-row processing; only for columns
            # that need none); else plain tuples, which pandas takes without probing each Row
            rows = result.cursor.fetchall() if raw else [tuple(r) for r in result]
        df = pd.DataFrame.from_records(rows, columns=names)
        df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
        return df

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
