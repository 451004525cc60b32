"""Token buckets per API key in the store, shared by every replica of the HTTP API.

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


__all__ = ["TokenGrant", "take_tokens"]
