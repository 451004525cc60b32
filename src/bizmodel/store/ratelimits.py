"""Token buckets and daily quotas per API key in the store, shared by every replica of the
HTTP API.

One row per key: the tokens left and when they were counted. A take refills the bucket at
``rate_per_minute / 60`` tokens a second up to ``rate_per_minute`` (a minute's burst), then
takes up to ``want`` tokens - all of them when there are that many, one when there is at
least one, else none - in one ``UPDATE`` whose arithmetic runs in the database, so takes
from any number of processes or machines never race (SQLite and PostgreSQL alike). A server
leases a second's worth of tokens at a time (:class:`bizmodel.server.security.SharedTokenBuckets`),
so a busy key costs each replica about one write a second, not one per call.

Clocks: ``now`` is the caller's Unix time; a bucket never moves backwards (a replica whose
clock is behind refills nothing rather than taking tokens back).

Examples
--------
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> take_tokens(store, "key:a1", 120, want=100, now=0.0)   # a fresh bucket: 120 tokens
TokenGrant(granted=100, tokens=20.0, wait_s=0.0)
>>> take_tokens(store, "key:a1", 120, want=100, now=0.0)   # fewer than asked: one
TokenGrant(granted=1, tokens=19.0, wait_s=0.0)
>>> take_tokens(store, "key:a1", 120, want=1, now=0.0).granted
1
>>> store.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from bizmodel.store.db import EventStore


@dataclass(frozen=True)
class TokenGrant:
    """What a take got: ``granted`` tokens, the ``tokens`` left in the bucket, and (when it
    got none) ``wait_s``, the seconds until the bucket holds one again."""

    granted: int
    tokens: float
    wait_s: float


def take_tokens(
    store: EventStore, key_id: str, rate_per_minute: int, *, want: int, now: float
) -> TokenGrant:
    """Take up to ``want`` tokens of ``key_id``'s bucket (``rate_per_minute`` > 0).

    Returns
    -------
    TokenGrant
        ``want`` tokens when the bucket holds that many, 1 when it holds at least one, else
        0 with the wait until it does.
    """
    from sqlalchemy import case, literal, update

    from bizmodel.store.schema import rate_buckets as rb

    rate = float(rate_per_minute)
    per_s = rate / 60.0
    later = literal(now) > rb.c.updated
    refilled = rb.c.tokens + case((later, literal(now) - rb.c.updated), else_=0.0) * per_s
    full = case((refilled > rate, literal(rate)), else_=refilled)
    granted = case((full >= want, want), (full >= 1.0, 1), else_=0)
    stmt = (
        update(rb)
        .where(rb.c.key_id == key_id)
        .values(  # every expression reads the row as it was before this UPDATE
            tokens=full - granted,
            updated=case((later, literal(now)), else_=rb.c.updated),
            granted=granted,
        )
        .returning(rb.c.tokens, rb.c.granted)
    )
    first = {"key_id": key_id, "tokens": rate, "updated": now, "granted": 0}

    def write(conn: Connection) -> Any:
        conn.execute(store._insert(rb).on_conflict_do_nothing(index_elements=["key_id"]), first)
        return conn.execute(stmt).one()

    tokens, got = store._write(write)
    tokens, got = float(tokens), int(got)
    wait = 0.0 if got else max(0.0, (1.0 - tokens) / per_s)
    return TokenGrant(got, tokens, wait)


@dataclass(frozen=True)
class QuotaGrant:
    """What a quota take got: ``granted`` calls, and the calls ``used`` that day in all."""

    granted: int
    used: int


def use_quota(store: EventStore, key_id: str, quota: int, *, day: int, want: int) -> QuotaGrant:
    """Take up to ``want`` of ``key_id``'s ``quota`` calls on UTC ``day`` (days since
    1970-01-01): all of them when that many are left, 1 when at least one is, else 0.

    Examples
    --------
    >>> from bizmodel.store import EventStore
    >>> store = EventStore.open("sqlite://")
    >>> use_quota(store, "key:a1", 5, day=20000, want=4)
    QuotaGrant(granted=4, used=4)
    >>> use_quota(store, "key:a1", 5, day=20000, want=4)   # fewer left than asked: one
    QuotaGrant(granted=1, used=5)
    >>> use_quota(store, "key:a1", 5, day=20000, want=1)
    QuotaGrant(granted=0, used=5)
    >>> use_quota(store, "key:a1", 5, day=20001, want=1)   # a new day
    QuotaGrant(granted=1, used=1)
    >>> store.close()
    """
    from sqlalchemy import case, update

    from bizmodel.store.schema import key_usage as ku

    left = quota - ku.c.used
    granted = case((left >= want, want), (left >= 1, 1), else_=0)
    stmt = (
        update(ku)
        .where(ku.c.key_id == key_id, ku.c.day == day)
        .values(used=ku.c.used + granted, granted=granted)
        .returning(ku.c.used, ku.c.granted)
    )
    first = {"key_id": key_id, "day": day, "used": 0, "granted": 0}

    def write(conn: Connection) -> Any:
        conn.execute(
            store._insert(ku).on_conflict_do_nothing(index_elements=["key_id", "day"]), first
        )
        return conn.execute(stmt).one()

    used, got = store._write(write)
    return QuotaGrant(int(got), int(used))


def return_quota(store: EventStore, key_id: str, *, day: int, calls: int) -> int:
    """Give back ``calls`` of ``key_id``'s calls taken on UTC ``day`` and never made (a
    replica's unspent lease when it stops); returns the calls counted as used afterwards.

    Examples
    --------
    >>> from bizmodel.store import EventStore
    >>> store = EventStore.open("sqlite://")
    >>> use_quota(store, "key:a1", 100, day=20000, want=10)
    QuotaGrant(granted=10, used=10)
    >>> return_quota(store, "key:a1", day=20000, calls=7)     # 3 of the 10 were made
    3
    >>> return_quota(store, "key:a1", day=20000, calls=50)    # never below zero
    0
    >>> store.close()
    """
    from sqlalchemy import case, update

    from bizmodel.store.schema import key_usage as ku

    stmt = (
        update(ku)
        .where(ku.c.key_id == key_id, ku.c.day == day)
        .values(used=case((ku.c.used >= calls, ku.c.used - calls), else_=0))
        .returning(ku.c.used)
    )
    row = store._write(lambda conn: conn.execute(stmt).one_or_none())
    return 0 if row is None else int(row[0])


__all__ = ["QuotaGrant", "TokenGrant", "return_quota", "take_tokens", "use_quota"]
