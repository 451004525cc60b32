"""Token buckets in the store: the refill rule, and takes from several engines at once
(standing for replicas in several processes) that never grant more than the bucket holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bizmodel.store import EventStore
from bizmodel.store.ratelimits import QuotaGrant, TokenGrant, take_tokens, use_quota


def test_a_bucket_refills_at_its_rate_up_to_a_minutes_burst(db_url: str) -> None:
    store = EventStore.open(db_url)
    try:
        assert take_tokens(store, "k", 60, want=50, now=0.0) == TokenGrant(50, 10.0, 0.0)
        assert take_tokens(store, "k", 60, want=50, now=0.0) == TokenGrant(1, 9.0, 0.0)
        for _ in range(9):
            assert take_tokens(store, "k", 60, want=1, now=0.0).granted == 1
        empty = take_tokens(store, "k", 60, want=1, now=0.0)
        assert (empty.granted, empty.wait_s) == (0, pytest.approx(1.0))
        half = take_tokens(store, "k", 60, want=1, now=0.5)  # half a token back: none yet
        assert (half.granted, half.wait_s) == (0, pytest.approx(0.5))
        assert take_tokens(store, "k", 60, want=5, now=3.0) == TokenGrant(1, 2.0, 0.0)
        back = take_tokens(store, "k", 60, want=1, now=2.0)  # a clock behind: no refill
        assert (back.granted, back.tokens) == (1, 1.0)
        full = take_tokens(store, "k", 60, want=1, now=1e6)  # long idle: a minute's burst
        assert full == TokenGrant(1, 59.0, 0.0)
        assert take_tokens(store, "other", 60, want=60, now=0.0).granted == 60  # its own
    finally:
        store.close()


def _race(stores: list[EventStore], take: Callable[[EventStore], int], tries: int) -> int:
    """Calls granted when 4 threads, 2 on each engine, call ``take`` ``tries`` times each."""
    got: list[int] = []
    lock = threading.Lock()

    def taker(store: EventStore) -> None:
        mine = sum(take(store) for _ in range(tries))
        with lock:
            got.append(mine)

    threads = [threading.Thread(target=taker, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4
    return sum(got)


def test_takes_from_several_engines_at_once_never_exceed_the_bucket(db_url: str) -> None:
    """4 threads on 2 engines take 1 token at a time from a 50-token bucket: exactly 50."""
    EventStore.open(db_url).close()  # migrated once
    stores = [EventStore.open(db_url) for _ in range(2)]
    try:
        granted = _race(stores, lambda s: take_tokens(s, "busy", 50, want=1, now=5.0).granted, 30)
    finally:
        for s in stores:
            s.close()
    assert granted == 50


def test_a_daily_quota_is_counted_per_key_and_day_and_never_overdrawn(db_url: str) -> None:
    EventStore.open(db_url).close()
    stores = [EventStore.open(db_url) for _ in range(2)]
    try:
        assert use_quota(stores[0], "q", 10, day=7, want=4) == QuotaGrant(4, 4)
        assert use_quota(stores[1], "q", 10, day=7, want=4) == QuotaGrant(4, 8)
        assert use_quota(stores[0], "q", 10, day=7, want=4) == QuotaGrant(1, 9)  # 2 left: 1
        assert use_quota(stores[1], "q", 10, day=8, want=4) == QuotaGrant(4, 4)  # a new day
        assert use_quota(stores[1], "r", 10, day=7, want=10) == QuotaGrant(10, 10)  # its own
        # 100 tries from 4 threads on 2 engines: the quota exactly
        assert _race(stores, lambda s: use_quota(s, "busy", 40, day=7, want=1).granted, 25) == 40
    finally:
        for s in stores:
            s.close()
