"""A Python client of a bizmodel server whose retries never store anything twice.

What a product's backend needs to send predictions, feedback and events to ``bizmodel serve``
(one machine, ``--replicas N`` or Ray Serve) when a connection drops, a replica or the ingress
dies, or a key is rate-limited:

- every write carries what makes a second try harmless: ``POST /v1/predict`` and
  ``POST /v1/feedback`` an ``Idempotency-Key`` header made once per call and sent again on each
  try (the server answers a repeat with the first try's ids and logs nothing new), and each
  event a ``client_event_id`` (kept where the caller gave one, a random one otherwise), so an
  event whose acknowledgement was lost is recognised as a duplicate, not stored again;
- lost answers (connection dropped, timed out, a proxy's 500/502/504) and 503 are retried with
  exponential back-off and jitter; a 429 waits its ``Retry-After``;
- each retry is logged (logger ``bizmodel.client``, WARNING) with what failed;
- a request the server refused (4xx other than 429) is not retried: it raises
  :class:`~bizmodel.errors.ApiError` with the server's ``{"error", "detail"}``;
- writes that carry no such key (creating an experiment, promoting a model) are retried only
  when the server surely did not act: the connection was never made, or a 429/503 answer
  (but not Ray Serve's ``503 replica_lost``, which says the write may have been applied).

A tenant's API (``/t/NAME/`` on a server with ``[tenants]``) is the base URL
``http://HOST:PORT/t/NAME``.

Examples
--------
>>> policy = RetryPolicy(attempts=4, backoff_s=0.5, max_wait_s=3.0, jitter=0.0)
>>> [policy.wait_s(n) for n in (1, 2, 3)]
[0.5, 1.0, 2.0]
>>> policy.wait_s(1, retry_after="7")  # a 429's Retry-After, capped at max_wait_s
3.0
>>> EventsSent(received=3, inserted=2, duplicates=1, requests=1, retries=1).summary()
'3 events sent in 1 request (1 retry): 2 stored, 1 already stored'

With a server running (``bizmodel serve``)::

    from bizmodel.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as api:
        answer = api.predict(["Acme beats forecasts"], user_id="u-1")
        api.feedback(answer["predictions"][0]["id"], rating=1.0)
        api.send_events([{"user_id": "u-1", "type": "purchase", "value": 9.99}])
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from bizmodel.errors import ApiError, ConfigError

log = logging.getLogger("bizmodel.client")

#: Statuses whose request the server did not (surely) carry out: retried on every route.
SAFE_RETRY_STATUSES = frozenset({429, 503})
#: Statuses of a lost answer (a proxy's error, a gateway timeout): retried where idempotent.
LOST_ANSWER_STATUSES = frozenset({500, 502, 504})
#: Errors of a 503 whose request may have been carried out (Ray Serve's ingress lost the
#: replica mid-request): not sent again unless idempotent.
MAYBE_APPLIED_ERRORS = frozenset({"replica_lost"})
#: Events per ``POST /v1/events`` (the server's limit).
MAX_EVENTS_PER_REQUEST = 1_000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a :class:`Client` tries one call.

    Parameters
    ----------
    attempts : int
        Tries per call, the first one included (1 = never retry).
    backoff_s : float
        Wait before the second try; doubled before each further one.
    max_wait_s : float
        Longest single wait, a ``Retry-After`` included.
    jitter : float
        Each back-off wait is drawn uniformly within ``± jitter`` of itself (0 = exact), so
        clients that failed together do not retry together.
    """

    attempts: int = 5
    backoff_s: float = 0.25
    max_wait_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise ConfigError(f"attempts must be an integer >= 1, got {self.attempts!r}")
        for name in ("backoff_s", "max_wait_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"jitter must be in [0, 1), got {self.jitter!r}")

    def wait_s(
        self, attempt: int, retry_after: str | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based): the server's
        ``Retry-After`` (seconds) where it sent one, else the jittered back-off; at most
        ``max_wait_s``."""
        if retry_after is not None:
            try:
                asked = float(retry_after)
            except ValueError:  # an HTTP date: fall back to the back-off
                asked = math.nan
            if math.isfinite(asked) and asked >= 0:
                return min(asked, self.max_wait_s)
        wait = self.backoff_s * 2 ** (attempt - 1)
        if self.jitter:
            wait *= (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return min(wait, self.max_wait_s)


@dataclass(frozen=True)
class EventsSent:
    """What :meth:`Client.send_events` did: the server's counts summed over its requests."""

    received: int
    inserted: int
    duplicates: int  # already stored under the same client_event_id (an earlier send, a retry)
    requests: int
    retries: int  # tries beyond the first, over all requests

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        s = "" if self.requests == 1 else "s"
        retries = f" ({self.retries} retr{'y' if self.retries == 1 else 'ies'})" * bool(
            self.retries
        )
        return (
            f"{self.received} events sent in {self.requests} request{s}{retries}: "
            f"{self.inserted} stored, {self.duplicates} already stored"
        )


def _jsonable(value: Any) -> Any:
    """``value`` with what ``json`` cannot write made plain: datetimes as ISO 8601, NaN and
    pandas' NaT as null, numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return None if value != value else value.isoformat()  # NaT != NaT
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(events: Any) -> Iterator[dict[str, Any]]:
    if hasattr(events, "to_dict") and hasattr(events, "columns"):  # a pandas DataFrame
        events = events.to_dict("records")
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            kind = type(event).__name__
            raise ConfigError(f"event {i}: expected a mapping of fields, got {kind}")
        yield _jsonable(event)


@dataclass
class _Try:
    """What one try came to: an answer to return, or a cause and maybe a ``Retry-After``."""

    done: bool
    value: Any = None
    cause: str = ""
    status: int | None = None
    retry_after: str | None = None


class _Calls:
    """What :class:`Client` and :class:`AsyncClient` share: the settings, each route's
    request, and the rules that judge a try and time the next one."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        retry: RetryPolicy | None,
        seed: int | None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"url must start with http:// or https://, got {url!r}")
        self.headers = {"User-Agent": "bizmodel-client"}
        if api_key:
            self.headers["X-API-Key"] = api_key
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.retries = 0
        self._rng = random.Random(seed)

    # -- each route's request: (method, path, keyword arguments of request()) ---------------

    @staticmethod
    def _predict_call(
        texts: str | Sequence[str],
        text_pairs: str | Sequence[str] | None,
        model: str | None,
        user_id: str | None,
        ts: datetime | str | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        one = isinstance(texts, str)
        body: dict[str, Any] = {"text" if one else "texts": texts if one else list(texts)}
        if text_pairs is not None:
            pairs_one = isinstance(text_pairs, str)
            body["text_pair" if pairs_one else "text_pairs"] = (
                text_pairs if pairs_one else list(text_pairs)
            )
        body.update({k: v for k, v in (("model", model), ("user_id", user_id)) if v is not None})
        if ts is not None:
            body["ts"] = _jsonable(ts)
        return _keyed(body, idempotency_key)

    @staticmethod
    def _feedback_call(
        prediction_id: str, fields: dict[str, Any], idempotency_key: str | None
    ) -> dict[str, Any]:
        body = {"prediction_id": prediction_id} | {
            k: _jsonable(v) for k, v in fields.items() if v is not None
        }
        return _keyed(body, idempotency_key)

    @staticmethod
    def _event_batches(events: Any, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        if not (isinstance(batch_size, int) and 1 <= batch_size <= MAX_EVENTS_PER_REQUEST):
            raise ConfigError(
                f"batch_size must be an integer in [1, {MAX_EVENTS_PER_REQUEST}], "
                f"got {batch_size!r}"
            )
        batch: list[dict[str, Any]] = []
        for event in _records(events):
            if not event.get("client_event_id"):
                event["client_event_id"] = uuid.uuid4().hex
            batch.append({k: v for k, v in event.items() if v is not None})
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- the rules -------------------------------------------------------------------------

    @staticmethod
    def _idempotent(method: str, idempotent: bool | None) -> bool:
        return method in ("GET", "HEAD", "DELETE") if idempotent is None else idempotent

    @staticmethod
    def _judge(where: str, result: Any, idempotent: bool) -> _Try:
        """What a try's ``result`` (an httpx response or transport error) means; raises
        :class:`ApiError` where trying again would be wrong."""
        import httpx

        if isinstance(result, httpx.TransportError):
            sent = not isinstance(result, httpx.ConnectError | httpx.ConnectTimeout)
            cause = f"{type(result).__name__}: {result}" if str(result) else type(result).__name__
            if sent and not idempotent:
                raise ApiError(
                    f"{where}: the answer was lost ({cause}); the request may have been "
                    "carried out, so it was not sent again",
                    status=None,
                ) from result
            return _Try(False, cause=cause)
        status = result.status_code
        if status < 400:
            return _Try(True, value=result.json() if result.content else None)
        error, detail = _error_body(result)
        cause = f"{status} {error}: {detail}"
        safe = status in SAFE_RETRY_STATUSES and error not in MAYBE_APPLIED_ERRORS
        lost = status in LOST_ANSWER_STATUSES | SAFE_RETRY_STATUSES
        if not (safe or (idempotent and lost)):
            raise ApiError(f"{where} answered {cause}", status=status, error=error, detail=detail)
        return _Try(
            False, cause=cause, status=status, retry_after=result.headers.get("Retry-After")
        )

    def _wait(self, where: str, attempt: int, failed: _Try) -> float | None:
        """Seconds to wait before the next try (logged), or None when none is left."""
        tries = self.retry.attempts
        if attempt == tries:
            return None
        self.retries += 1
        wait = self.retry.wait_s(attempt, failed.retry_after, self._rng)
        log.warning("%s: %s; try %d of %d in %.2f s", where, failed.cause, attempt + 1, tries, wait)
        return wait

    def _exhausted(self, where: str, failed: _Try) -> ApiError:
        tries = self.retry.attempts
        return ApiError(
            f"{where} failed {tries} tr{'y' if tries == 1 else 'ies'}; the last: {failed.cause}",
            status=failed.status,
        )


def _keyed(body: dict[str, Any], key: str | None) -> dict[str, Any]:
    return {"json": body, "headers": {"Idempotency-Key": key or uuid.uuid4().hex}}


def _add(totals: dict[str, int], answer: Mapping[str, Any], retries: int) -> None:
    for k in ("received", "inserted", "duplicates"):
        totals[k] += int(answer[k])
    totals["requests"] += 1
    totals["retries"] += retries


def _no_totals() -> dict[str, int]:
    return {"received": 0, "inserted": 0, "duplicates": 0, "requests": 0, "retries": 0}


class Client(_Calls):
    """Calls of a bizmodel server's HTTP API, retried where that is safe (see the module).

    Parameters
    ----------
    url : str
        The server's base URL, e.g. ``http://127.0.0.1:8000`` (a tenant: ``.../t/NAME``).
    api_key : str, optional
        Sent as ``X-API-Key``.
    timeout_s : float
        Per try: connect, read and write timeouts.
    retry : RetryPolicy, optional
        Default: 5 tries, 0.25 s doubling, waits of at most 30 s.
    transport : httpx.BaseTransport, optional
        What carries the requests (default: httpx's HTTP transport).
    sleep : callable, optional
        Waits between tries (default :func:`time.sleep`).
    seed : int, optional
        Seeds the jitter of the waits (default: unseeded).

    Attributes
    ----------
    retries : int
        Tries beyond the first over the client's life (for logs and tests).

    See Also
    --------
    AsyncClient : the same calls for asyncio code.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        import httpx

        super().__init__(url, api_key, retry, seed)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def predict(
        self,
        texts: str | Sequence[str],
        text_pairs: str | Sequence[str] | None = None,
        *,
        model: str | None = None,
        user_id: str | None = None,
        ts: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/predict``: one text (pair) or a list; returns the server's answer
        (``predictions`` with their ids, ``model_name``, ``model_version``, ...). A retry
        answers the same prediction ids and is not logged again."""
        call = self._predict_call(texts, text_pairs, model, user_id, ts, idempotency_key)
        return self.request("POST", "/v1/predict", idempotent=True, **call)

    def feedback(
        self,
        prediction_id: str,
        *,
        rating: float | None = None,
        correction: Any = None,
        comment: str | None = None,
        user_id: str | None = None,
        ts: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/feedback`` on a served prediction; stored once however often it is
        retried. Returns ``{"id", "prediction_id"}``."""
        fields = {"rating": rating, "correction": correction, "comment": comment}
        fields |= {"user_id": user_id, "ts": ts}
        call = self._feedback_call(prediction_id, fields, idempotency_key)
        return self.request("POST", "/v1/feedback", idempotent=True, **call)

    def send_events(
        self, events: Iterable[Mapping[str, Any]] | Any, *, batch_size: int = 1_000
    ) -> EventsSent:
        """``POST /v1/events`` in batches of ``batch_size`` (a list of dicts or a DataFrame
        with ``user_id``, ``type`` and optional ``value``, ``ts``, ``properties``,
        ``client_event_id``, ``experiment``, ``variant``). Events without a
        ``client_event_id`` get a random one before the first try, so a retried batch is
        stored once. Each batch is stored whole or not at all; on an error the batches before
        it stay stored and sending them again stores nothing twice."""
        totals = _no_totals()
        for batch in self._event_batches(events, batch_size):
            before = self.retries
            answer = self.request("POST", "/v1/events", json={"events": batch}, idempotent=True)
            _add(totals, answer, self.retries - before)
        return EventsSent(**totals)

    def assign(self, experiment: str, user_id: str) -> dict[str, Any]:
        """``GET /v1/assign``: the user's sticky variant (and its model version)."""
        params = {"experiment": experiment, "user_id": user_id}
        return self.request("GET", "/v1/assign", params=params)

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return self.request("GET", "/health")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one call, retrying as the module says; return the answer's JSON (None if
        empty).

        ``idempotent`` (default: True for GET, HEAD and DELETE) says whether a second try
        is harmless when the first one's answer was lost; it must be True only when the
        request carries what makes it so (an ``Idempotency-Key``, client event ids).

        Raises
        ------
        ApiError
            The server refused the request (4xx but 429), or every try failed.
        """
        import httpx

        method = method.upper()
        safe = self._idempotent(method, idempotent)
        where = f"{method} {self.url}{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                result: Any = self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                result = exc
            tried = self._judge(where, result, safe)
            if tried.done:
                return tried.value
            wait = self._wait(where, attempt, tried)
            if wait is None:
                raise self._exhausted(where, tried)
            self._sleep(wait)


class AsyncClient(_Calls):
    """:class:`Client`'s calls for asyncio code (``await api.predict(...)``), with the same
    retries; ``sleep`` defaults to :func:`asyncio.sleep` and ``transport`` is an
    ``httpx.AsyncBaseTransport``.

    Examples
    --------
    ::

        async with AsyncClient("http://127.0.0.1:8000", api_key="...") as api:
            answer = await api.predict("Acme beats forecasts", "Acme")
            await api.send_events([{"user_id": "u-1", "type": "visit"}])
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: Any = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        seed: int | None = None,
    ) -> None:
        import asyncio

        import httpx

        super().__init__(url, api_key, retry, seed)
        self._sleep = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout_s, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def predict(
        self,
        texts: str | Sequence[str],
        text_pairs: str | Sequence[str] | None = None,
        *,
        model: str | None = None,
        user_id: str | None = None,
        ts: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """See :meth:`Client.predict`."""
        call = self._predict_call(texts, text_pairs, model, user_id, ts, idempotency_key)
        return await self.request("POST", "/v1/predict", idempotent=True, **call)

    async def feedback(
        self,
        prediction_id: str,
        *,
        rating: float | None = None,
        correction: Any = None,
        comment: str | None = None,
        user_id: str | None = None,
        ts: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """See :meth:`Client.feedback`."""
        fields = {"rating": rating, "correction": correction, "comment": comment}
        fields |= {"user_id": user_id, "ts": ts}
        call = self._feedback_call(prediction_id, fields, idempotency_key)
        return await self.request("POST", "/v1/feedback", idempotent=True, **call)

    async def send_events(
        self, events: Iterable[Mapping[str, Any]] | Any, *, batch_size: int = 1_000
    ) -> EventsSent:
        """See :meth:`Client.send_events`."""
        totals = _no_totals()
        for batch in self._event_batches(events, batch_size):
            before = self.retries
            answer = await self.request(
                "POST", "/v1/events", json={"events": batch}, idempotent=True
            )
            _add(totals, answer, self.retries - before)
        return EventsSent(**totals)

    async def assign(self, experiment: str, user_id: str) -> dict[str, Any]:
        """See :meth:`Client.assign`."""
        params = {"experiment": experiment, "user_id": user_id}
        return await self.request("GET", "/v1/assign", params=params)

    async def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return await self.request("GET", "/health")

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """See :meth:`Client.request`."""
        import httpx

        method = method.upper()
        safe = self._idempotent(method, idempotent)
        where = f"{method} {self.url}{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                result: Any = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                result = exc
            tried = self._judge(where, result, safe)
            if tried.done:
                return tried.value
            wait = self._wait(where, attempt, tried)
            if wait is None:
                raise self._exhausted(where, tried)
            await self._sleep(wait)


def _error_body(response: Any) -> tuple[str, str]:
    """``(error, detail)`` of an error answer: the house JSON, or the start of any other body
    (a proxy's plain text)."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, Mapping) and "error" in body:
        return str(body["error"]), str(body.get("detail", ""))
    text = " ".join(response.text.split())[:200]
    return "http_error", text or response.reason_phrase


__all__ = [
    "LOST_ANSWER_STATUSES",
    "MAX_EVENTS_PER_REQUEST",
    "MAYBE_APPLIED_ERRORS",
    "SAFE_RETRY_STATUSES",
    "AsyncClient",
    "Client",
    "EventsSent",
    "RetryPolicy",
]
