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

__all__ = ["Exposures", "exposures", "last_event_time"]


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
