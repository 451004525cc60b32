"""The Ray Serve ingress: retries a request whose replica died, on another replica.

Ray Serve's HTTP proxy answers its own plain-text ``500`` for a request in flight on a replica
that dies (Ray 2.60 re-routes a request only while a replica has not yet accepted it). So
``bizmodel serve --backend ray`` puts a thin ingress deployment in front of the model replicas
(:mod:`bizmodel.scale.serve`): it reads the whole request, hands it to a model replica as one
:class:`HttpRequest` through a Ray Serve handle, and, when that replica died with the request
in flight, sends it again to another one, at most ``attempts`` times in all. What may be sent
again is decided by :func:`retry_plan`:

- reads (``GET``, ``HEAD``) and explanations: answering twice changes nothing;
- ``POST /v1/predict`` and ``POST /v1/feedback``: the request gets an ``Idempotency-Key``
  header before the first try (a UUID where the client sent none; see
  :mod:`bizmodel.server.idempotency`), so a retry answers the same prediction ids and the
  prediction log and feedback keep one record each;
- ``POST /v1/events``: every event gets a ``client_event_id`` before the first try (a UUID
  where the client sent none), so a retry after a commit-then-death is recognised by the store
  as a duplicate and each event is stored exactly once;
- anything else (experiments, keys, promotions, the web app's forms) is not sent again: the
  client gets ``503`` with ``"error": "replica_lost"`` (it may or may not have been applied).

An answer that needed more than one try says how many in ``X-Bizmodel-Attempts``.
When every attempt failed the client gets ``503`` ``{"error": "replica_unavailable", ...}``
with ``Retry-After``: the house one-line JSON error shape, never Serve's plain-text 500.

Everything here is plain asyncio and ASGI (no Ray import): the model replica runs the app on an
:class:`HttpRequest` with :func:`call_asgi`, and :class:`RetryingIngress` takes the function
that reaches a replica and the exceptions that mean "the replica died" as arguments.

Examples
--------
>>> retry_plan("POST", "/v1/predict", b'{"text": "a"}')
(b'{"text": "a"}', True)
>>> retry_plan("POST", "/v1/feedback", b'{"prediction_id": "p1", "rating": 1}')[1]
True
>>> retry_plan("POST", "/v1/experiments", b'{"name": "e1"}')[1]
False
>>> retry_plan("POST", "/t/acme/v1/feedback", b'{}')[1]    # a tenant's route: the same rules
True
>>> body, retryable = retry_plan(
...     "POST", "/v1/events", b'{"events": [{"user_id": "u1", "type": "signup"}]}'
... )
>>> retryable, len(json.loads(body)["events"][0]["client_event_id"])
(True, 32)
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from bizmodel.server.tenants import tenant_path

log = logging.getLogger("bizmodel.server")

#: Methods whose requests change nothing (or nothing twice) when answered again.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: POST routes that only compute.
PURE_POSTS = frozenset({"/v1/explain"})
#: POST routes made idempotent by an ``Idempotency-Key`` header (added where missing).
KEYED_POSTS = frozenset({"/v1/predict", "/v1/feedback"})
#: That header, as ASGI spells header names.
IDEMPOTENCY_HEADER = b"idempotency-key"
#: Response header of an answer that needed more than one try: how many it took.
ATTEMPTS_HEADER = b"x-bizmodel-attempts"
#: The POST route whose events are made idempotent with a ``client_event_id``.
EVENTS_PATH = "/v1/events"

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class HttpRequest:
    """One whole HTTP request, as the ingress sends it to a model replica."""

    method: str
    path: str
    query_string: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    scheme: str = "http"
    raw_path: bytes | None = None
    client: tuple[str, int] | None = None
    server: tuple[str, int | None] | None = None
    root_path: str = ""

    def with_idempotency_key(self) -> HttpRequest:
        """The request with an ``Idempotency-Key`` header: its own, else a fresh UUID, when
        it is a POST to one of :data:`KEYED_POSTS`; else the request as it is."""
        if self.method.upper() != "POST" or tenant_path(self.path)[1] not in KEYED_POSTS:
            return self
        if any(k.lower() == IDEMPOTENCY_HEADER for k, _ in self.headers):
            return self
        key = uuid.uuid4().hex.encode()
        return replace(self, headers=(*self.headers, (IDEMPOTENCY_HEADER, key)))

    def with_body(self, body: bytes) -> HttpRequest:
        """The same request with ``body`` (and its ``content-length``)."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != b"content-length")
        return replace(self, body=body, headers=(*kept, (b"content-length", b"%d" % len(body))))


@dataclass(frozen=True)
class HttpResponse:
    """One whole HTTP response, as a model replica returns it."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        key = name.lower().encode()
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == key), None)


def _with_event_ids(body: bytes) -> bytes:
    """``body`` with a fresh ``client_event_id`` on every event that has none.

    A body that is not an ``{"events": [...]}`` object is returned as it is: the app refuses
    it (422) without storing anything.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        return body
    changed = False
    for event in events:
        if isinstance(event, dict) and event.get("client_event_id") is None:
            event["client_event_id"] = uuid.uuid4().hex
            changed = True
    return json.dumps(doc, separators=(",", ":")).encode() if changed else body


def retry_plan(method: str, path: str, body: bytes) -> tuple[bytes, bool]:
    """The body to send and whether the request may be sent again after its replica died.

    Parameters
    ----------
    method, path : str
        The request's method and path (without the query string).
    body : bytes
        The request body as the client sent it.

    Returns
    -------
    (bytes, bool)
        ``body``, with a ``client_event_id`` added to every event lacking one for
        ``POST /v1/events``; and True when answering the request twice is harmless
        (for :data:`KEYED_POSTS`: once it carries an ``Idempotency-Key``, see
        :meth:`HttpRequest.with_idempotency_key`).

    Examples
    --------
    >>> retry_plan("GET", "/v1/experiments", b"")
    (b'', True)
    >>> retry_plan("DELETE", "/v1/experiments/e1", b"")
    (b'', False)
    >>> retry_plan("POST", "/v1/events", b'{"events": [{"client_event_id": "c1"}]}')
    (b'{"events": [{"client_event_id": "c1"}]}', True)
    """
    method = method.upper()
    path = tenant_path(path)[1]  # a tenant's routes (/t/NAME/v1/...) are the same routes
    if method in SAFE_METHODS:
        return body, True
    if method == "POST" and path in PURE_POSTS | KEYED_POSTS:
        return body, True
    if method == "POST" and path == EVENTS_PATH:
        return _with_event_ids(body), True
    return body, False


async def call_asgi(app: Any, request: HttpRequest) -> HttpResponse:
    """Run ``app`` (an ASGI app whose lifespan already started) on one whole request.

    The response body is collected in full; a client disconnect is reported to the app only
    once the response is complete (the ingress holds the real connection).
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path if request.raw_path is not None else request.path.encode(),
        "root_path": request.root_path,
        "query_string": request.query_string,
        "headers": [tuple(h) for h in request.headers],
        "client": request.client,
        "server": request.server,
        "state": {},
    }
    done = asyncio.Event()
    body_sent = False
    status = 500
    headers: Headers = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return HttpResponse(status=status, headers=tuple(headers), body=b"".join(chunks))


def json_answer(
    status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    """The house error shape ``{"error": kind, "detail": detail}`` as a response.

    Examples
    --------
    >>> json_answer(503, "replica_unavailable", "retry", {"Retry-After": "1"}).body
    b'{"error": "replica_unavailable", "detail": "retry"}'
    """
    body = json.dumps({"error": kind, "detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return HttpResponse(
        status=status,
        headers=(
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            *extra,
        ),
        body=body,
    )


class RetryingIngress:
    """ASGI app: read the request, send it to a replica, retry if that replica died.

    Parameters
    ----------
    send_to_replica : callable
        ``async (HttpRequest) -> HttpResponse``: run the request on one model replica.
    lost : tuple of exception types
        What ``send_to_replica`` raises when the replica died or became unreachable with the
        request in flight (Ray's ``RayActorError`` family).
    max_body_bytes : int
        Larger bodies get 413 here, before anything is sent on.
    attempts : int
        Tries of a retryable request in all (first one included).
    backoff_s : float
        Wait before the second try, doubled before each further one (Serve's router learns
        of the dead replica meanwhile).
    retry_after_s : int
        ``Retry-After`` of a 503.
    """

    def __init__(
        self,
        send_to_replica: Callable[[HttpRequest], Awaitable[HttpResponse]],
        *,
        lost: tuple[type[BaseException], ...],
        max_body_bytes: int,
        attempts: int = 3,
        backoff_s: float = 0.1,
        retry_after_s: int = 1,
    ) -> None:
        self.send_to_replica = send_to_replica
        self.lost = lost
        self.max_body_bytes = max_body_bytes
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.retry_after_s = retry_after_s

    async def answer(self, request: HttpRequest) -> HttpResponse:
        """The response to ``request``: a replica's, or one of the ingress's own errors."""
        body, retryable = retry_plan(request.method, request.path, request.body)
        if body is not request.body:
            request = request.with_body(body)
        request = request.with_idempotency_key()
        retry_after = {"Retry-After": str(self.retry_after_s)}
        for attempt in range(self.attempts):
            try:
                response = await self.send_to_replica(request)
            except self.lost as exc:
                log.warning(
                    "%s %s: the replica died (%s), attempt %d of %d",
                    request.method,
                    request.path,
                    type(exc).__name__,
                    attempt + 1,
                    self.attempts if retryable else 1,
                )
                if not retryable:
                    return json_answer(
                        503,
                        "replica_lost",
                        "the server handling this request stopped; it may or may not have "
                        "been applied: check before sending it again",
                        retry_after,
                    )
            except Exception:  # a bug on either side: the house 500, details in the log
                log.exception("%s %s -> 500 (ingress)", request.method, request.path)
                return json_answer(
                    500, "internal_error", "internal error; the server log has the details"
                )
            else:
                if attempt == 0:
                    return response
                tries = (ATTEMPTS_HEADER, b"%d" % (attempt + 1))
                return replace(response, headers=(*response.headers, tries))
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        return json_answer(
            503,
            "replica_unavailable",
            f"no server could answer after {self.attempts} attempts; retry in "
            f"{self.retry_after_s} s",
            retry_after,
        )

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":  # the app has no websockets
            await send({"type": "websocket.close", "code": 1003})
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                limit = self.max_body_bytes
                too_large = json_answer(
                    413, "payload_too_large", f"request body exceeds the limit of {limit} bytes"
                )
                await self._send(send, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        request = HttpRequest(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b""),
            headers=tuple((bytes(k), bytes(v)) for k, v in scope.get("headers", ())),
            body=b"".join(chunks),
            scheme=scope.get("scheme", "http"),
            raw_path=scope.get("raw_path"),
            client=tuple(scope["client"]) if scope.get("client") else None,
            server=tuple(scope["server"]) if scope.get("server") else None,
            root_path=scope.get("root_path", ""),
        )
        await self._send(send, await self.answer(request))

    @staticmethod
    async def _send(send: Any, response: HttpResponse) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": list(response.headers),
            }
        )
        await send({"type": "http.response.body", "body": response.body})
