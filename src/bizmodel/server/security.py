"""API keys, roles and rate limits of the HTTP API.

A key comes in the ``X-API-Key`` header or as ``Authorization: Bearer <key>``. Two kinds:

* keys made by ``bizmodel keys create`` (``bzk_<id>_<secret>``): the store keeps a hash and
  the key's roles (:mod:`bizmodel.store.keys`); looked up by id, compared in constant time,
  cached at most ``server.key_cache_s`` seconds, so a revoke takes effect within that time
  (at once on the worker that answered ``DELETE /v1/keys/ID``);
* ``BIZMODEL_API_KEYS``, the bootstrap keys from the environment: every role.

No key → 401; an unknown, wrong or revoked key → 403; a valid key without the endpoint's role
→ 403. Every authenticated call takes a token from its key's bucket (:class:`TokenBuckets`):
an empty bucket → 429 with ``Retry-After``. The buckets live in the process
(:class:`TokenBuckets`) or, when several replicas serve one store, in the store
(:class:`SharedTokenBuckets`: ``[server] rate_limit_scope``). A daily quota per key
(:class:`DailyQuotas`, always in the store) → 429 until the next UTC midnight.
``POST /v1/explain`` has a second bucket per key on top (``server.explain_per_minute``),
kept where the first one is.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bizmodel.errors import AuthError, PermissionDeniedError, RateLimitError
from bizmodel.store.keys import KEY_PATTERN, ROLES, ApiKey, check_secret

WHAT = {  # what each role lets a key do, for the 403 message
    "predict": "predict and explain",
    "ingest": "send events, feedback and assignments",
    "read": "read experiments and metrics",
    "admin": "change experiments, promote models and manage keys",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stored key (``key:<id>``) or a bootstrap key (``env:<n>``)."""

    id: str
    roles: tuple[str, ...]
    rate_per_minute: int | None = None  # None = the server's default
    calls_per_day: int | None = None  # None = the server's default


def check_api_key(provided: str | None, keys: tuple[str, ...]) -> int:
    """Index (from 1) of the bootstrap key that ``provided`` equals; 0 when none does.

    Compared with ``hmac.compare_digest`` against every key, without an early exit, so the
    time taken does not depend on which key matched.

    Examples
    --------
    >>> check_api_key("s3cret", ("other", "s3cret"))
    2
    >>> check_api_key("guess", ("s3cret",))
    0
    """
    if not provided:
        return 0
    given = provided.encode()
    found = 0
    for i, key in enumerate(keys, start=1):
        if hmac.compare_digest(given, key.encode()):
            found = found or i
    return found


class KeyRing:
    """Turns a presented key into a :class:`Principal`, or raises 401/403.

    Parameters
    ----------
    bootstrap : tuple of str
        ``BIZMODEL_API_KEYS``: keys with every role.
    keys : KeyStore, optional
        The project's stored keys.
    cache_s : float
        Longest time a stored key's row (or its absence) is reused without a database read.
    clock : callable, optional
        Seconds as a float (default :func:`time.monotonic`); tests pass their own.
    """

    def __init__(
        self,
        bootstrap: tuple[str, ...],
        keys: Any = None,
        *,
        cache_s: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.keys = keys
        self.cache_s = cache_s
        self.clock = clock or time.monotonic
        self._cache: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget cached rows: one key's, or all."""
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(key_id, None)

    async def _lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        now = self.clock()
        hit = self._cache.get(key_id)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        # In a worker thread: a database read must not stall the event loop (and a flood of
        # made-up key ids must not either).
        found = await asyncio.to_thread(self.keys.lookup, key_id)
        if len(self._cache) > 10_000:  # unknown ids are cached too: keep the cache bounded
            self._cache.clear()
        if self.cache_s > 0:
            self._cache[key_id] = (now, found)
        return found

    async def authenticate(self, provided: str | None) -> Principal:
        """The caller ``provided`` identifies; AuthError (401) or PermissionDeniedError (403)."""
        if not provided:
            raise AuthError("missing API key: send it in the X-API-Key header")
        n = check_api_key(provided, self.bootstrap)
        if n:
            return Principal(f"env:{n}", ROLES)
        match = KEY_PATTERN.match(provided)
        if match is not None and self.keys is not None:
            info = check_secret(provided, await self._lookup(match.group(1)))
            if info is not None:
                return Principal(
                    f"key:{info.id}", info.roles, info.rate_per_minute, info.calls_per_day
                )
        raise PermissionDeniedError("the API key is not valid")

    @staticmethod
    def authorize(principal: Principal, role: str) -> None:
        if role not in principal.roles:
            raise PermissionDeniedError(
                f"this API key may not {WHAT[role]}: that needs role '{role}' "
                f"(this key has: {', '.join(principal.roles)})"
            )


def too_many(what: str, wait_s: int) -> RateLimitError:
    """The 429 of every per-key limit: ``what`` was exceeded, retry in ``wait_s`` seconds
    (also the answer's ``Retry-After``)."""
    err = RateLimitError(f"{what}; retry in {wait_s} s")
    err.retry_after_s = wait_s
    return err


def rate_limit_scope(settings: Any) -> str:
    """Where the server counts per-key calls: ``server.rate_limit_scope``, with ``auto`` =
    ``store`` when it runs more than one replica, else ``process``.

    Examples
    --------
    >>> from bizmodel.config import ServerSettings, Settings
    >>> rate_limit_scope(Settings(server=ServerSettings(replicas=4)))
    'store'
    >>> rate_limit_scope(Settings())
    'process'
    """
    scope = str(settings.server.rate_limit_scope)
    if scope == "auto":
        return "store" if settings.server.replicas > 1 else "process"
    return scope


class TokenBuckets:
    """A token bucket per key: ``rate_per_minute`` tokens, refilled at that rate.

    A key may burst up to one minute's worth of calls, then gets one call per
    ``60 / rate_per_minute`` seconds. ``rate_per_minute`` 0 or None = no limit.

    Examples
    --------
    >>> now = [0.0]
    >>> buckets = TokenBuckets(clock=lambda: now[0])
    >>> buckets.take("k", 2); buckets.take("k", 2)
    >>> buckets.take("k", 2)
    Traceback (most recent call last):
    ...
    bizmodel.errors.RateLimitError: more than 2 calls per minute for this API key; retry in 30 s
    >>> now[0] = 30.0
    >>> buckets.take("k", 2)
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str, rate_per_minute: int | None) -> None:
        """Take one token of ``key``'s bucket; :class:`RateLimitError` (429) when empty."""
        if not rate_per_minute:
            return
        now = self.clock()
        per_s = rate_per_minute / 60.0
        tokens, then = self._buckets.get(key, (float(rate_per_minute), now))
        tokens = min(float(rate_per_minute), tokens + (now - then) * per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / per_s)
            raise too_many(f"more than {rate_per_minute} calls per minute for this API key", wait)
        self._buckets[key] = (tokens - 1.0, now)

    async def acquire(self, key: str, rate_per_minute: int | None) -> None:
        """:meth:`take`, as the server calls it (the same call as the shared buckets')."""
        self.take(key, rate_per_minute)


class _Leased:
    """A per-key allowance leased from the store a few calls at a time and spent locally:
    :meth:`acquire` spends one call of the lease, or (one request per key at a time, the
    others waiting for it) asks the store for a new lease with :meth:`_lease`."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, key: str, limit: int | None) -> None:
        """Count one call of ``key``'s; :class:`RateLimitError` (429) past ``limit``."""
        if not limit or self._spend(key):
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            if not self._spend(key):
                await self._lease(key, limit)

    def _spend(self, key: str) -> bool:  # one call from the key's lease, if it has one
        raise NotImplementedError

    async def _lease(self, key: str, limit: int) -> None:  # a new lease, one call spent
        raise NotImplementedError


class SharedTokenBuckets(_Leased):
    """Per-key token buckets kept in the store, shared by every replica of the API.

    The same rule as :class:`TokenBuckets` (a minute's burst, then ``rate_per_minute``
    calls a minute), counted across all the processes that serve one store - ``serve
    --replicas N`` and Ray Serve replicas - where per-process buckets would let a key make N
    times its rate. A replica leases about ``lease_s`` seconds' worth of a key's tokens at a
    time from the store (:func:`bizmodel.store.ratelimits.take_tokens`) and spends them
    locally, so a busy key costs one store write a second per replica. A lease not spent
    within ``lease_s`` lapses: the key loses at most that many calls (at most one second's
    worth per replica).

    Parameters
    ----------
    store : EventStore
        The project's store.
    lease_s : float
        Seconds' worth of tokens a replica takes at a time, and how long it keeps them.
    clock : callable, optional
        Unix seconds (default :func:`time.time`: replicas on several machines compare them).

    Examples
    --------
    >>> import asyncio
    >>> from bizmodel.store import EventStore
    >>> store, now = EventStore.open("sqlite://"), [0.0]
    >>> a = SharedTokenBuckets(store, clock=lambda: now[0])
    >>> b = SharedTokenBuckets(store, clock=lambda: now[0])  # another replica
    >>> asyncio.run(a.acquire("k", 2)); asyncio.run(b.acquire("k", 2))
    >>> asyncio.run(a.acquire("k", 2))
    Traceback (most recent call last):
    ...
    bizmodel.errors.RateLimitError: more than 2 calls per minute for this API key; retry in 30 s
    >>> store.close()
    """

    def __init__(
        self, store: Any, *, lease_s: float = 1.0, clock: Callable[[], float] | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.lease_s = lease_s
        self.clock = clock or time.time
        self._leases: dict[str, tuple[int, float]] = {}  # key -> (tokens left, lapses at)

    async def _lease(self, key: str, rate_per_minute: int) -> None:
        from bizmodel.store.ratelimits import take_tokens

        want = max(1, math.ceil(rate_per_minute / 60.0 * self.lease_s))
        now = self.clock()
        grant = await asyncio.to_thread(
            take_tokens, self.store, key, rate_per_minute, want=want, now=now
        )
        if not grant.granted:
            wait = max(1, math.ceil(grant.wait_s))
            raise too_many(f"more than {rate_per_minute} calls per minute for this API key", wait)
        self._leases[key] = (grant.granted - 1, now + self.lease_s)

    def _spend(self, key: str) -> bool:
        left, lapses = self._leases.get(key, (0, 0.0))
        if left < 1 or self.clock() >= lapses:
            return False
        self._leases[key] = (left - 1, lapses)
        return True


class DailyQuotas(_Leased):
    """Per-key quotas of calls per UTC day, counted in the store by every replica.

    A replica leases up to 1% of a key's quota left that day (at most 64 calls, at least 1)
    at a time (:func:`bizmodel.store.ratelimits.use_quota`) and spends it locally: a key with
    a large quota costs one store write per lease, and as the quota runs out the leases shrink
    to one call. A replica that stops gives its unspent calls back (:meth:`release`, run by
    the app's shutdown); one that dies without stopping leaves them counted as used (at most
    one lease per key). An exhausted quota → 429 with ``Retry-After`` until the next UTC
    midnight.

    Examples
    --------
    >>> import asyncio
    >>> from bizmodel.store import EventStore
    >>> store, now = EventStore.open("sqlite://"), [86400.0 * 20000 + 3600]  # 01:00 UTC
    >>> quotas = DailyQuotas(store, clock=lambda: now[0])
    >>> for _ in range(3):
    ...     asyncio.run(quotas.acquire("k", 3))
    >>> asyncio.run(quotas.acquire("k", 3))
    Traceback (most recent call last):
    ...
    bizmodel.errors.RateLimitError: this API key used its 3 calls of the day (UTC); retry in 82800 s
    >>> now[0] += 82800                                          # the next day
    >>> asyncio.run(quotas.acquire("k", 3))
    >>> store.close()
    """

    MAX_LEASE = 64

    def __init__(self, store: Any, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.store = store
        self.clock = clock or time.time
        self._leases: dict[str, tuple[int, int, int]] = {}  # key -> (day, calls left, used)

    async def _lease(self, key: str, calls_per_day: int) -> None:
        from bizmodel.store.ratelimits import use_quota

        now = self.clock()
        day = int(now // 86400)
        used = self._leases[key][2] if self._today(key, day) else 0
        want = max(1, min(self.MAX_LEASE, (calls_per_day - used) // 100))
        grant = await asyncio.to_thread(
            use_quota, self.store, key, calls_per_day, day=day, want=want
        )
        if not grant.granted:
            wait = max(1, math.ceil((day + 1) * 86400 - now))
            raise too_many(f"this API key used its {calls_per_day} calls of the day (UTC)", wait)
        self._leases[key] = (day, grant.granted - 1, grant.used)

    def _today(self, key: str, day: int) -> bool:
        return self._leases.get(key, (-1, 0, 0))[0] == day

    def release(self) -> int:
        """Give today's unspent leased calls back to the store (when the replica stops);
        returns how many. Leases of an earlier day lapsed with it."""
        from bizmodel.store.ratelimits import return_quota

        today, given = int(self.clock() // 86400), 0
        leases, self._leases = self._leases, {}
        for key, (day, left, _) in leases.items():
            if day == today and left > 0:
                return_quota(self.store, key, day=day, calls=left)
                given += left
        return given

    def _spend(self, key: str) -> bool:
        day, left, used = self._leases.get(key, (-1, 0, 0))
        if left < 1 or day != int(self.clock() // 86400):
            return False
        self._leases[key] = (day, left - 1, used)
        return True
