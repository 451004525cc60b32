"""The Ray Serve ingress without Ray: what is retried, what a client reads, and that a write
retried after its replica committed and died is stored once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizmodel.scale.ingress import HttpRequest, HttpResponse, RetryingIngress, call_asgi, retry_plan

from .conftest import served_project_settings

KEY = "ingress-test-key"
HEADERS = {"X-API-Key": KEY}


class Died(Exception):
    """Stands for Ray's ActorDiedError."""


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, ((b"content-type", b"application/json"),), b'{"ok": true}')


class FlakyReplicas:
    """``send_to_replica`` whose first ``deaths`` calls die; ``commit_first`` runs the request
    on ``inner`` before dying (the replica committed, then died before answering)."""

    def __init__(
        self,
        deaths: int,
        inner: Callable[[HttpRequest], Any] | None = None,
        *,
        commit_first: bool = False,
    ) -> None:
        self.deaths = deaths
        self.inner = inner
        self.commit_first = commit_first
        self.seen: list[HttpRequest] = []

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if len(self.seen) <= self.deaths:
            if self.commit_first and self.inner is not None:
                await self.inner(request)
            raise Died("replica killed")
        if self.inner is None:
            return _ok(request)
        response: HttpResponse = await self.inner(request)
        return response


def _client(replicas: FlakyReplicas, **kwargs: Any) -> httpx.AsyncClient:
    ingress = RetryingIngress(replicas, lost=(Died,), max_body_bytes=4096, backoff_s=0.0, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ingress), base_url="http://t")


def _post(replicas: FlakyReplicas, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with _client(replicas, **kwargs) as client:
            return await client.post(path, json=body, headers=HEADERS)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("method", "path", "retryable"),
    [
        ("GET", "/v1/experiments", True),
        ("HEAD", "/health", True),
        ("POST", "/v1/predict", True),
        ("POST", "/v1/explain", True),
        ("POST", "/v1/events", True),
        ("POST", "/v1/feedback", True),
        ("POST", "/v1/experiments", False),
        ("PATCH", "/v1/experiments/e1", False),
        ("DELETE", "/v1/experiments/e1", False),
        ("POST", "/v1/keys", False),
        ("POST", "/v1/models/m/promote", False),
    ],
)
def test_only_idempotent_requests_are_retried(method: str, path: str, retryable: bool) -> None:
    assert retry_plan(method, path, b"{}")[1] is retryable


def test_events_get_a_client_event_id_where_they_have_none() -> None:
    body = {"events": [{"user_id": "u1", "type": "a"}, {"user_id": "u2", "type": "b",
                                                         "client_event_id": "mine"}]}  # fmt: skip
    sent, _ = retry_plan("POST", "/v1/events", json.dumps(body).encode())
    events = json.loads(sent)["events"]
    assert events[1] == body["events"][1]  # the client's own id is kept
    generated = events[0].pop("client_event_id")
    assert events[0] == body["events"][0] and len(generated) == 32
    again, _ = retry_plan("POST", "/v1/events", json.dumps(body).encode())
    assert json.loads(again)["events"][0]["client_event_id"] != generated  # fresh per request
    for bad in (b"not json", b"[1, 2]", b'{"events": 3}'):  # the app refuses these: unchanged
        assert retry_plan("POST", "/v1/events", bad) == (bad, True)


def test_predictions_and_feedback_get_an_idempotency_key_where_they_have_none() -> None:
    def key(r: HttpRequest) -> bytes | None:
        return dict(r.headers).get(b"idempotency-key")

    bare = HttpRequest("POST", "/v1/feedback", headers=((b"x-api-key", b"k"),))
    keyed = bare.with_idempotency_key()
    assert len(key(keyed) or b"") == 32 and keyed.headers[0] == (b"x-api-key", b"k")
    assert key(bare.with_idempotency_key()) != key(keyed)  # fresh per request
    own = HttpRequest("POST", "/v1/predict", headers=((b"Idempotency-Key", b"mine"),))
    assert own.with_idempotency_key() is own  # the client's own key is kept
    for other in (HttpRequest("POST", "/v1/experiments"), HttpRequest("GET", "/v1/predict")):
        assert other.with_idempotency_key() is other


def test_a_prediction_whose_replica_died_is_answered_by_the_next() -> None:
    replicas = FlakyReplicas(deaths=2)
    r = _post(replicas, "/v1/predict", {"text": "a"})
    assert (r.status_code, r.json()) == (200, {"ok": True})
    assert len(replicas.seen) == 3 and r.headers["x-bizmodel-attempts"] == "3"
    assert {s.body for s in replicas.seen} == {b'{"text":"a"}'}  # the same body every time
    assert all(dict(s.headers)[b"x-api-key"] == KEY.encode() for s in replicas.seen)


def test_events_retried_carry_the_same_generated_ids() -> None:
    replicas = FlakyReplicas(deaths=1)
    r = _post(replicas, "/v1/events", {"events": [{"user_id": "u1", "type": "signup"}]})
    assert r.status_code == 200
    first, second = replicas.seen
    assert first.body == second.body and b"client_event_id" in first.body
    assert dict(first.headers)[b"content-length"] == str(len(first.body)).encode()


def test_all_attempts_failed_is_a_json_503_with_retry_after() -> None:
    replicas = FlakyReplicas(deaths=99)
    r = _post(replicas, "/v1/predict", {"text": "a"}, attempts=3, retry_after_s=2)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json() == {
        "error": "replica_unavailable",
        "detail": "no server could answer after 3 attempts; retry in 2 s",
    }
    assert len(replicas.seen) == 3


def test_a_write_without_an_id_is_not_sent_twice() -> None:
    replicas = FlakyReplicas(deaths=1)
    r = _post(replicas, "/v1/experiments", {"name": "e1"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "replica_lost"
    assert "may or may not have been applied" in r.json()["detail"]
    assert len(replicas.seen) == 1


def test_a_body_over_the_limit_is_refused_before_any_replica() -> None:
    replicas = FlakyReplicas(deaths=0)
    r = _post(replicas, "/v1/predict", {"text": "x" * 5000})
    assert r.status_code == 413
    assert r.json() == {
        "error": "payload_too_large",
        "detail": "request body exceeds the limit of 4096 bytes",
    }
    assert replicas.seen == []


def test_an_unexpected_error_is_the_house_500() -> None:
    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("/srv/secret/path exploded")

    async def go() -> httpx.Response:
        ingress = RetryingIngress(broken, lost=(Died,), max_body_bytes=4096)
        transport = httpx.ASGITransport(app=ingress)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/health")

    r = asyncio.run(go())
    assert r.status_code == 500 and "secret" not in r.text
    assert r.json()["error"] == "internal_error"


@asynccontextmanager
async def _started(app: Any) -> AsyncIterator[Any]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def app_settings(tmp_path: Path, db_url: str, serving_model: Any) -> Any:
    return served_project_settings(tmp_path, serving_model[0], db_url, KEY, max_wait_ms=1.0)


def test_the_app_answers_the_same_through_call_asgi(app_settings: Any) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server.app import create_app

    body = {"texts": ["Acme beats forecasts", "Acme cuts jobs"], "text_pairs": ["Acme", "Acme"]}
    with TestClient(create_app(app_settings)) as local:
        want = local.post("/v1/predict", json=body, headers=HEADERS)
        bad = local.post("/v1/predict", json={"text": 3}, headers=HEADERS)

    async def go() -> tuple[httpx.Response, httpx.Response]:
        app = create_app(app_settings)
        async with _started(app):
            ingress = RetryingIngress(
                lambda req: call_asgi(app, req), lost=(Died,), max_body_bytes=10**6
            )
            transport = httpx.ASGITransport(app=ingress)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                got = await client.post("/v1/predict", json=body, headers=HEADERS)
                got_bad = await client.post("/v1/predict", json={"text": 3}, headers=HEADERS)
        return got, got_bad

    got, got_bad = asyncio.run(go())
    assert got.status_code == want.status_code == 200
    assert "x-bizmodel-attempts" not in got.headers  # answered at the first try
    values = [p["value"] for p in got.json()["predictions"]]
    assert values == pytest.approx([p["value"] for p in want.json()["predictions"]], abs=1e-6)
    assert (got_bad.status_code, got_bad.json()) == (bad.status_code, bad.json())
    assert got_bad.status_code == 422


def test_events_committed_then_lost_are_stored_once(app_settings: Any) -> None:
    """The replica stores the events and dies before answering; the retry, with the ids the
    ingress gave them, is recognised by the store: each event once, on SQLite and PostgreSQL."""
    from bizmodel.server.app import create_app
    from bizmodel.store import EventStore

    events = [{"user_id": f"u{i}", "type": "purchase", "value": float(i)} for i in range(3)]

    async def go() -> tuple[httpx.Response, FlakyReplicas]:
        app = create_app(app_settings)
        async with _started(app):
            replicas = FlakyReplicas(1, lambda req: call_asgi(app, req), commit_first=True)
            async with _client(replicas) as client:
                r = await client.post("/v1/events", json={"events": events}, headers=HEADERS)
        return r, replicas

    r, replicas = asyncio.run(go())
    assert len(replicas.seen) == 2  # the first try committed, then its replica "died"
    assert (r.status_code, r.json()) == (200, {"received": 3, "inserted": 0, "duplicates": 3})
    store = EventStore.open(app_settings.resolved_database_url())
    try:
        stored = store.events(type="purchase")
    finally:
        store.close()
    assert sorted((e["user_id"], e["value"]) for e in stored) == [
        ("u0", 0.0), ("u1", 1.0), ("u2", 2.0)
    ]  # fmt: skip
    sent = json.loads(replicas.seen[0].body)["events"]
    assert sorted(e["client_event_id"] for e in stored) == sorted(
        e["client_event_id"] for e in sent
    )


def test_predictions_and_feedback_committed_then_lost_are_stored_once(app_settings: Any) -> None:
    """As above for a prediction (logged, then its replica died) and feedback on it: the
    retry carries the ingress's Idempotency-Key, answers the same ids and stores nothing new."""
    from bizmodel.server.app import create_app
    from bizmodel.store import EventStore

    body = {"texts": ["Acme beats forecasts", "Acme cuts jobs"], "text_pairs": ["Acme", "Acme"]}

    async def go() -> tuple[httpx.Response, httpx.Response, FlakyReplicas, FlakyReplicas]:
        app = create_app(app_settings)
        async with _started(app):
            predict = FlakyReplicas(1, lambda req: call_asgi(app, req), commit_first=True)
            async with _client(predict) as client:
                r = await client.post("/v1/predict", json=body, headers=HEADERS)
            pid = r.json()["predictions"][0]["id"]
            feedback = FlakyReplicas(1, lambda req: call_asgi(app, req), commit_first=True)
            async with _client(feedback) as client:
                fb = await client.post(
                    "/v1/feedback", json={"prediction_id": pid, "rating": 1}, headers=HEADERS
                )
        return r, fb, predict, feedback

    r, fb, predict, feedback = asyncio.run(go())
    assert (r.status_code, fb.status_code) == (200, 201)
    assert len(predict.seen) == len(feedback.seen) == 2  # each first try was applied, then lost
    assert r.headers["x-bizmodel-attempts"] == fb.headers["x-bizmodel-attempts"] == "2"
    store = EventStore.open(app_settings.resolved_database_url())
    try:
        logged, stored = store.predictions(), store.feedback()
    finally:
        store.close()
    assert sorted(p["id"] for p in logged) == sorted(p["id"] for p in r.json()["predictions"])
    assert [f["id"] for f in stored] == [fb.json()["id"]]
