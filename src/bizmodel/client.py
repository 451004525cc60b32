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
  when the server surely did not act: the connection was never made, or a 429/503 answer.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from bizmodel.errors import ApiError, ConfigError

log = logging.getLogger("bizmodel.client")

#: Statuses whose request the server did not (surely) carry out: retried on every route.
SAFE_RETRY_STATUSES = frozenset({429, 503})
#: Statuses of a lost answer (a proxy's error, a gateway timeout): retried where idempotent.
LOST_ANSWER_STATUSES = frozenset({500, 502, 504})
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


class Client:
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

        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"url must start with http:// or https://, got {url!r}")
        headers = {"User-Agent": "bizmodel-client"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.retries = 0
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- the routes -------------------------------------------------------------------------

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
        return self._keyed("/v1/predict", body, idempotency_key)

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
        fields = {
            "rating": rating,
            "correction": correction,
            "comment": comment,
            "user_id": user_id,
            "ts": ts,
        }
        body = {"prediction_id": prediction_id} | {
            k: _jsonable(v) for k, v in fields.items() if v is not None
        }
        return self._keyed("/v1/feedback", body, idempotency_key)

    def send_events(
        self, events: Iterable[Mapping[str, Any]] | Any, *, batch_size: int = 1_000
    ) -> EventsSent:
        """``POST /v1/events`` in batches of ``batch_size`` (a list of dicts or a DataFrame
        with ``user_id``, ``type`` and optional ``value``, ``ts``, ``properties``,
        ``client_event_id``, ``experiment``, ``variant``). Events without a
        ``client_event_id`` get a random one before the first try, so a retried batch is
        stored once. Each batch is stored whole or not at all; on an error the batches before
        it stay stored and sending them again stores nothing twice."""
        if not (isinstance(batch_size, int) and 1 <= batch_size <= MAX_EVENTS_PER_REQUEST):
            raise ConfigError(
                f"batch_size must be an integer in [1, {MAX_EVENTS_PER_REQUEST}], "
                f"got {batch_size!r}"
            )
        totals = {"received": 0, "inserted": 0, "duplicates": 0, "requests": 0, "retries": 0}
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            before = self.retries
            answer = self.request("POST", "/v1/events", json={"events": batch}, idempotent=True)
            for k in ("received", "inserted", "duplicates"):
                totals[k] += int(answer[k])
            totals["requests"] += 1
            totals["retries"] += self.retries - before
            batch.clear()

        for event in _records(events):
            if not event.get("client_event_id"):
                event["client_event_id"] = uuid.uuid4().hex
            batch.append({k: v for k, v in event.items() if v is not None})
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        return EventsSent(**totals)

    def assign(self, experiment: str, user_id: str) -> dict[str, Any]:
        """``GET /v1/assign``: the user's sticky variant (and its model version)."""
        params = {"experiment": experiment, "user_id": user_id}
        return self.request("GET", "/v1/assign", params=params, idempotent=True)

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return self.request("GET", "/health", idempotent=True)

    # -- the machinery ----------------------------------------------------------------------

    def _keyed(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        return self.request("POST", path, json=body, headers=headers, idempotent=True)

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
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE")
        where = f"{method} {self.url}{path}"
        status: int | None = None
        cause = ""
        for attempt in range(1, self.retry.attempts + 1):
            retry_after = None
            status = None
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if sent and not idempotent:
                    raise ApiError(
                        f"{where}: the answer was lost ({cause}); the request may have been "
                        "carried out, so it was not sent again",
                        status=None,
                    ) from exc
            else:
                status = response.status_code
                if status < 400:
                    return response.json() if response.content else None
                error, detail = _error_body(response)
                cause = f"{status} {error}: {detail}"
                retryable = status in SAFE_RETRY_STATUSES or (
                    idempotent and status in LOST_ANSWER_STATUSES
                )
                if not retryable:
                    raise ApiError(
                        f"{where} answered {cause}", status=status, error=error, detail=detail
                    )
                retry_after = response.headers.get("Retry-After")
            if attempt == self.retry.attempts:
                break
            self.retries += 1
            wait = self.retry.wait_s(attempt, retry_after, self._rng)
            tries = self.retry.attempts
            log.warning("%s: %s; try %d of %d in %.2f s", where, cause, attempt + 1, tries, wait)
            self._sleep(wait)
        tries = self.retry.attempts
        raise ApiError(
            f"{where} failed {tries} tr{'y' if tries == 1 else 'ies'}; the last: {cause}",
            status=status,
        )


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
    "SAFE_RETRY_STATUSES",
    "Client",
    "EventsSent",
    "RetryPolicy",
]
