"""API keys: compared in constant time against ``Settings.api_keys``.

A key comes in the ``X-API-Key`` header or as ``Authorization: Bearer <key>``. No key → 401;
a key that matches none → 403. With no keys configured, every keyed endpoint answers 401 and
says how to configure one: writes are never open by accident. :class:`RateLimiter` bounds
expensive calls (``POST /v1/explain``) per key: over the limit → 429.
"""

from __future__ import annotations

import hmac
import math
import time
from collections import deque
from collections.abc import Callable

from bizmodel.errors import AuthError, PermissionDeniedError, RateLimitError


def check_api_key(provided: str | None, keys: tuple[str, ...]) -> None:
    """Raise unless ``provided`` equals one of ``keys`` (compared with hmac.compare_digest).

    Examples
    --------
    >>> check_api_key("s3cret", ("s3cret",))
    >>> check_api_key(None, ("s3cret",))
    Traceback (most recent call last):
    ...
    bizmodel.errors.AuthError: missing API key: send it in the X-API-Key header
    """
    if not keys:
        raise AuthError(
            "this endpoint needs an API key but the server has none configured: "
            "set BIZMODEL_API_KEYS (comma-separated) and restart"
        )
    if not provided:
        raise AuthError("missing API key: send it in the X-API-Key header")
    given = provided.encode()
    ok = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise PermissionDeniedError("the API key is not valid")


class RateLimiter:
    """At most ``per_minute`` calls per key in any sliding 60-second window.

    Parameters
    ----------
    per_minute : int
        Calls allowed per key and minute.
    clock : callable, optional
        Seconds as a float (default :func:`time.monotonic`); tests pass their own.

    Examples
    --------
    >>> now = [0.0]
    >>> limit = RateLimiter(2, clock=lambda: now[0])
    >>> limit.hit("k"); limit.hit("k")
    >>> limit.hit("k")
    Traceback (most recent call last):
    ...
    bizmodel.errors.RateLimitError: more than 2 calls per minute for this API key; retry in 60 s
    >>> now[0] = 60.5
    >>> limit.hit("k")
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] | None = None) -> None:
        self.per_minute = per_minute
        self.clock = clock or time.monotonic
        self._calls: dict[str, deque[float]] = {}

    def hit(self, key: str) -> None:
        """Count one call of ``key``; :class:`RateLimitError` (429) when over the limit."""
        now = self.clock()
        calls = self._calls.setdefault(key, deque())
        while calls and now - calls[0] >= 60.0:
            calls.popleft()
        if len(calls) >= self.per_minute:
            wait = 60.0 - (now - calls[0])
            raise RateLimitError(
                f"more than {self.per_minute} calls per minute for this API key; "
                f"retry in {math.ceil(wait)} s"
            )
        calls.append(now)
