"""KPI rollups: the events folded into small per-day tables, so KPIs never load every event.

Three tables (``store/schema.py``, migration 0004), all derived from ``events``:

``event_days``
    per UTC day and event type: the number of events and the sum of their values;
``activity_days``
    one row per (kind, user, day) the user was active in that kind (``active``: any event
    but a churn; ``purchase``; ``churn``), with the user's previous day of that kind;
``activity_firsts``
    ``activity_days`` counted per (kind, day, previous day): the distinct users of any window
    of whole days (:mod:`bizmodel.monitor.rollup` has the formula).

:func:`refresh` folds in the events stored since the last refresh (every event with an id
above ``rollup_state.last_event_id``), whatever wrote them — the API, ``events import``, a
historical import of old days or a late event: each changes exactly the days it falls on
and, for a user's new active day, the previous-day link of that user's next one. Its cost
is that of the new events, not the store's. It runs before every read
(:func:`event_rollup`), :data:`FOLD_CHUNK` events per transaction, the first one holding the
store's write lock (SQLite) or a ``SHARE`` lock on ``events`` (PostgreSQL: every id at or
below the maximum is committed, none is skipped). A
store whose events no longer match what was folded in (rows deleted) is rebuilt.

Examples
--------
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> _ = store.add_events([{"user_id": "u1", "type": "visit", "ts": "2026-01-01T10:00:00"},
...                       {"user_id": "u1", "type": "purchase", "value": 5.0,
...                        "ts": "2026-01-02T10:00:00"}])
>>> r = event_rollup(store)
>>> r.day_counts[["type", "n", "value_sum"]].values.tolist()
[['visit', 1.0, 0.0], ['purchase', 1.0, 5.0]]
>>> store.close()
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from bizmodel.monitor.rollup import NO_PREV, EventRollup

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from bizmodel.store.db import EventStore

__all__ = ["FOLD_CHUNK", "answers", "event_rollup", "is_midnight", "rebuild", "refresh"]

_NEW = "rollup_tmp_new"  # the (kind, user, day) rows the new events add
_CHANGED = "rollup_tmp_changed"  # activity rows whose previous day changes
_DELTA = "rollup_tmp_delta"  # changes of the first-day counts


def day_sql(dialect: str, column: str = "ts") -> str:
    """SQL for the UTC day (days since 1970-01-01) of a timestamp column.

    SQLite keeps UTC wall times as text, so the date is its first 10 characters.

    Examples
    --------
    >>> day_sql("sqlite")
    'CAST(julianday(substr(ts, 1, 10)) - 2440587.5 AS INTEGER)'
    """
    if dialect == "postgresql":
        return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    return f"CAST(julianday(substr({column}, 1, 10)) - 2440587.5 AS INTEGER)"


def _sql(conn: Connection, stmt: str, **params: Any) -> Any:
    from sqlalchemy import text

    return conn.execute(text(stmt), params)


def _state(conn: Connection) -> tuple[int, int, int | None]:
    """(last folded id, events folded, max id)."""
    w, absorbed = _sql(conn, "SELECT last_event_id, events FROM rollup_state WHERE id = 1").one()
    m = _sql(conn, "SELECT max(id) FROM events").scalar()
    return int(w), int(absorbed), (None if m is None else int(m))


#: Events folded per transaction: a million imported events are folded in ten steps, and
#: events sent meanwhile are stored between them instead of waiting for the whole fold.
FOLD_CHUNK = 100_000


def refresh(store: EventStore, *, chunk: int = FOLD_CHUNK) -> int:
    """Fold the events stored since the last refresh into the rollups; return how many.

    The new events are folded ``chunk`` ids at a time, each step its own transaction. Only
    the first step holds ``events`` (PostgreSQL: a ``SHARE`` lock, until every id up to the
    newest is committed; SQLite: the write lock, as every step): later steps fold ids already
    known to be committed, so the API stores events while a large import is folded in.

    Raises
    ------
    StoreError
        When the store cannot be reached.
    """
    with store.engine.connect() as conn:  # most reads find nothing new: no write lock then
        w = _sql(conn, "SELECT last_event_id FROM rollup_state WHERE id = 1").scalar()
        m = _sql(conn, "SELECT max(id) FROM events").scalar()
    if (m or 0) == w:
        return 0
    total, bound, done = 0, None, False
    while not done:
        n, bound, done = store._write(
            partial(_fold, dialect=store.dialect, bound=bound, chunk=chunk)
        )
        total += n
    return total


def rebuild(store: EventStore) -> int:
    """Empty the rollups and fold in every event again; return how many."""

    def work(conn: Connection) -> int:
        _lock(conn, store.dialect)
        _clear(conn)
        return _fold(conn, store.dialect)[0]

    return int(store._write(work))


def _lock(conn: Connection, dialect: str, *, events: bool = True) -> None:
    if dialect == "postgresql":
        # one refresher at a time, and (``events``) no event insert in flight: every id up to
        # max(id) is committed when we read it (sequences hand out ids before commit, not in
        # order)
        _sql(conn, "SELECT id FROM rollup_state WHERE id = 1 FOR UPDATE")
        if events:
            _sql(conn, "LOCK TABLE events IN SHARE MODE")
    else:  # SQLite: the first write takes the database's write lock for the transaction
        _sql(conn, "UPDATE rollup_state SET id = id WHERE id = 1")


def _clear(conn: Connection) -> None:
    for table in ("event_days", "activity_days", "activity_firsts"):
        _sql(conn, f"DELETE FROM {table}")
    _sql(conn, "UPDATE rollup_state SET last_event_id = 0, events = 0 WHERE id = 1")


def _fold(
    conn: Connection, dialect: str, *, bound: int | None = None, chunk: int | None = None
) -> tuple[int, int | None, bool]:
    """Fold the events after the last folded id, up to ``chunk`` ids of them, and at most
    up to ``bound`` (an id known to be committed with every id below it; None = find it under
    the lock on ``events``): (events folded, the bound, whether it is reached)."""
    _lock(conn, dialect, events=bound is None)
    w, absorbed, newest = _state(conn)
    top = newest if bound is None else bound
    if top is None or top <= w:
        return 0, top, True
    m = top if chunk is None else min(top, w + chunk)
    day = day_sql(dialect)
    new = "id > :w AND id <= :m"  # both bounds: PostgreSQL then reads the key's index
    n_new = int(_sql(conn, f"SELECT count(*) FROM events WHERE {new}", w=w, m=m).scalar())
    _sql(
        conn,
        f"INSERT INTO event_days (day, type, n, value_sum) "
        f"SELECT {day}, type, count(*), coalesce(sum(value), 0.0) FROM events WHERE {new} "
        f"GROUP BY {day}, type ON CONFLICT (day, type) DO UPDATE SET "
        f"n = event_days.n + excluded.n, value_sum = event_days.value_sum + excluded.value_sum",
        w=w,
        m=m,
    )
    _fold_activity(conn, day, w, m)
    _sql(
        conn,
        "UPDATE rollup_state SET last_event_id = :m, events = :e WHERE id = 1",
        m=m,
        e=absorbed + n_new,
    )
    return n_new, top, m >= top


def _fold_activity(conn: Connection, day: str, w: int, m: int) -> None:
    temp = {
        _NEW: "kind VARCHAR(16), user_id VARCHAR(128), day INTEGER",
        _CHANGED: "kind VARCHAR(16), user_id VARCHAR(128), day INTEGER, prev_day INTEGER, "
        "old_prev INTEGER",
        _DELTA: "kind VARCHAR(16), day INTEGER, prev_day INTEGER, n INTEGER",
    }
    for name, cols in temp.items():
        _sql(conn, f"DROP TABLE IF EXISTS {name}")
        _sql(conn, f"CREATE TEMPORARY TABLE {name} ({cols})")
    new = "id > :w AND id <= :m"
    kind = "CASE WHEN type = 'churn' THEN 'churn' ELSE 'active' END"
    _sql(
        conn,
        f"INSERT INTO {_NEW} (kind, user_id, day) SELECT DISTINCT kind, user_id, day FROM ("
        f"SELECT {kind} AS kind, user_id, {day} AS day FROM events WHERE {new} UNION ALL "
        f"SELECT 'purchase' AS kind, user_id, {day} AS day FROM events "
        f"WHERE {new} AND type = 'purchase') AS x",
        w=w,
        m=m,
    )
    _sql(
        conn,
        f"DELETE FROM {_NEW} WHERE EXISTS (SELECT 1 FROM activity_days a WHERE "
        f"a.kind = {_NEW}.kind AND a.user_id = {_NEW}.user_id AND a.day = {_NEW}.day)",
    )
    _sql(
        conn,
        f"INSERT INTO activity_days (kind, user_id, day, prev_day) "
        f"SELECT kind, user_id, day, {NO_PREV} FROM {_NEW}",
    )
    # the previous day of every active day of the users with a new one, where it changed
    _sql(
        conn,
        f"INSERT INTO {_CHANGED} (kind, user_id, day, prev_day, old_prev) "
        f"SELECT kind, user_id, day, prev, prev_day FROM (SELECT kind, user_id, day, prev_day, "
        f"LAG(day, 1, {NO_PREV}) OVER (PARTITION BY kind, user_id ORDER BY day) AS prev "
        f"FROM activity_days WHERE (kind, user_id) IN (SELECT kind, user_id FROM {_NEW})) AS s "
        f"WHERE prev <> prev_day",
    )
    _sql(
        conn,
        f"UPDATE activity_days SET prev_day = c.prev_day FROM {_CHANGED} AS c "
        f"WHERE activity_days.kind = c.kind AND activity_days.user_id = c.user_id "
        f"AND activity_days.day = c.day",
    )
    # first-day counts change by: +1 per new row (as if it had no previous day), and per
    # changed row -1 at its old previous day, +1 at the new one
    _sql(
        conn,
        f"INSERT INTO {_DELTA} (kind, day, prev_day, n) SELECT kind, day, prev_day, sum(n) "
        f"FROM (SELECT kind, day, {NO_PREV} AS prev_day, 1 AS n FROM {_NEW} "
        f"UNION ALL SELECT kind, day, old_prev, -1 FROM {_CHANGED} "
        f"UNION ALL SELECT kind, day, prev_day, 1 FROM {_CHANGED}) AS d "
        f"GROUP BY kind, day, prev_day",
    )
    _sql(
        conn,
        f"INSERT INTO activity_firsts (kind, day, prev_day, n) "
        f"SELECT kind, day, prev_day, n FROM {_DELTA} WHERE n <> 0 "
        f"ON CONFLICT (kind, day, prev_day) DO UPDATE SET n = activity_firsts.n + excluded.n",
    )
    _sql(conn, "DELETE FROM activity_firsts WHERE n = 0")
    for name in temp:
        _sql(conn, f"DROP TABLE {name}")


# ----------------------------------------------------------------------------- reading


def _bound(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime()


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def is_midnight(value: Any) -> bool:
    """Whether ``value`` (None, or timestamp-like; naive = UTC) is None or a UTC midnight.

    Examples
    --------
    >>> is_midnight("2026-03-01"), is_midnight("2026-03-01T01:00:00+01:00")
    (True, True)
    >>> is_midnight("2026-03-01T12:00")
    False
    """
    t = _ts(value)
    return t is None or t == t.normalize()


def answers(since: Any = None, window: str | None = None) -> bool:
    """Whether the rollups answer KPI windows of ``window`` (None: the KPIs' own, whole
    days) starting at ``since`` (None: the first day of the data): whole days from a midnight.

    Examples
    --------
    >>> answers(), answers("2026-03-01", "7D"), answers("2026-03-01T06:00"), answers(None, "1h")
    (True, True, False, False)
    """
    from bizmodel.monitor.kpi import KPIS

    windows = [window] if window is not None else {d.window for d in KPIS.values()}
    try:
        whole = all(pd.Timedelta(w) % pd.Timedelta("1D") == pd.Timedelta(0) for w in windows)
        return whole and is_midnight(since)
    except (TypeError, ValueError):  # not a duration or a time: the frame path says why
        return False


def event_rollup(store: EventStore, since: Any = None, until: Any = None) -> EventRollup:
    """The rollups of the events in ``[since, until)`` (both midnights UTC, or None for the
    store's first/last day), after a :func:`refresh`; the users who also have predictions
    there come with their event-active days.

    Raises
    ------
    ConfigError
        When ``since`` or ``until`` is not a midnight (UTC).
    """
    from sqlalchemy import and_, func, select

    from bizmodel.errors import ConfigError
    from bizmodel.monitor.rollup import epoch_day
    from bizmodel.store.schema import activity_days, activity_firsts, event_days, events
    from bizmodel.store.schema import predictions as preds

    for name, value in (("since", since), ("until", until)):
        if not is_midnight(value):
            raise ConfigError(
                f"{name}: {value!r} is not a midnight (UTC); the daily rollups answer for "
                "whole days, e.g. 2026-03-01"
            )
    refresh(store)
    lo, hi = _bound(since), _bound(until)
    lo_day = None if lo is None else epoch_day(pd.Timestamp(lo))
    hi_day = None if hi is None else epoch_day(pd.Timestamp(hi))

    def days(col: Any) -> Any:
        conds = [col >= lo_day] if lo_day is not None else []
        conds += [col < hi_day] if hi_day is not None else []
        return and_(*conds) if conds else True

    def ts_range(col: Any) -> Any:
        conds = [col >= lo] if lo is not None else []
        conds += [col < hi] if hi is not None else []
        return and_(*conds) if conds else True

    with store.engine.connect() as conn:
        counts = pd.DataFrame(
            conn.execute(
                select(event_days.c.day, event_days.c.type, event_days.c.n, event_days.c.value_sum)
                .where(days(event_days.c.day))
                .order_by(event_days.c.day, event_days.c.type)
            ).all(),
            columns=["day", "type", "n", "value_sum"],
        )
        firsts = pd.DataFrame(
            conn.execute(select(activity_firsts).where(days(activity_firsts.c.day))).all(),
            columns=["kind", "day", "prev_day", "n"],
        )
        # apart: SQLite answers a lone min() or max() from the index, both at once by a scan
        lo_ts = conn.execute(select(func.min(events.c.ts)).where(ts_range(events.c.ts))).scalar()
        hi_ts = conn.execute(select(func.max(events.c.ts)).where(ts_range(events.c.ts))).scalar()
        users = [
            u
            for (u,) in conn.execute(
                select(preds.c.user_id)
                .where(ts_range(preds.c.ts), preds.c.user_id.is_not(None))
                .distinct()
            )
        ]
        active: list[Any] = []
        for k in range(0, len(users), 500):
            active += conn.execute(
                select(activity_days.c.user_id, activity_days.c.day).where(
                    activity_days.c.kind == "active",
                    activity_days.c.user_id.in_(users[k : k + 500]),
                    days(activity_days.c.day),
                )
            ).all()
    counts = counts.sort_values(["day", "type"], kind="stable", ignore_index=True)
    return EventRollup(
        day_counts=counts.astype({"day": "int64", "n": "float64", "value_sum": "float64"}),
        firsts=firsts.astype({"day": "int64", "prev_day": "int64", "n": "float64"}),
        min_ts=_ts(lo_ts),
        max_ts=_ts(hi_ts),
        active_days=pd.DataFrame(active, columns=["user_id", "day"]).astype({"day": "int64"}),
    )
