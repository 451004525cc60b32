"""bizmodel.client against a real server (uvicorn on 127.0.0.1) whose answers are lost on the
way back: a transport hands each request to the server, lets it commit, then drops the answer
of the tries it is told to, as a dying proxy, ingress or connection would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizmodel.client import Client, EventsSent, RetryPolicy
from bizmodel.errors import ApiError, ConfigError
from bizmodel.registry import Registry
from bizmodel.server import create_app
from bizmodel.store import EventStore

from .server.conftest import API_KEY, make_settings

FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_wait_s=2.0, jitter=0.0)


class LosesAnswers(httpx.BaseTransport):
    """Carries each request to the server, then loses the answer of the tries ``lose`` picks
    (the server has done its work: only the client does not learn of it)."""

    def __init__(self, lose: Callable[[int, httpx.Request], bool]) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose = lose
        self.sent: list[tuple[str, str, str | None]] = []  # method, path, Idempotency-Key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        n = len(self.sent)
        self.sent.append((request.method, request.url.path, request.headers.get("idempotency-key")))
        response = self.inner.handle_request(request)
        response.read()
        if self.lose(n, request):
            response.close()
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def server(
    tmp_path: Path, db_url: str, serving_model: Any, serve_app: Any
) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a server with the tiny model in production."""
    path, loader = serving_model
    registry = Registry(tmp_path / "registry")
    registry.register(path, "headlines")
    registry.promote("headlines", 1, "production")
    settings = make_settings(tmp_path, db_url, rate_per_minute=0)
    with serve_app(create_app(settings, model_loader=loader)) as url:
        yield url, db_url


def _every_first_try(n: int, request: httpx.Request) -> bool:
    return n % 2 == 0  # each call's first try is lost, its second answered


def _store(db_url: str) -> EventStore:
    return EventStore.open(db_url)


def test_events_whose_answers_are_lost_are_stored_once(server: tuple[str, str]) -> None:
    url, db = server
    transport = LosesAnswers(_every_first_try)
    events = [
        {"user_id": f"u{i}", "type": "purchase", "value": 2.5 * i, "client_event_id": f"e{i}"}
        for i in range(5)
    ] + [{"user_id": "anon", "type": "purchase", "value": None}]  # no id: the client adds one
    with Client(url, API_KEY, retry=FAST, transport=transport) as api:
        sent = api.send_events(events, batch_size=4)
    # Each batch stored at its lost first try; the retry finds every event stored.
    assert sent == EventsSent(received=6, inserted=0, duplicates=6, requests=2, retries=2)
    assert sent.summary() == "6 events sent in 2 requests (2 retries): 0 stored, 6 already stored"
    assert [m for m, *_ in transport.sent] == ["POST"] * 4
    store = _store(db)
    try:
        stored = store.events(type="purchase")
    finally:
        store.close()
    assert sorted(e["user_id"] for e in stored) == ["anon", "u0", "u1", "u2", "u3", "u4"]
    assert {e["client_event_id"] for e in stored} >= {f"e{i}" for i in range(5)}
    assert sorted(e["value"] for e in stored if e["value"] is not None) == [0, 2.5, 5, 7.5, 10]


def test_a_dataframe_of_events_is_sent_as_json(server: tuple[str, str]) -> None:
    pd = pytest.importorskip("pandas")
    url, db = server
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "type": ["signup", "signup"],
            "value": [1.0, float("nan")],
            "ts": pd.to_datetime(["2026-01-02T03:04:05Z", "2026-01-03T00:00:00Z"]),
        }
    )
    with Client(url, API_KEY, retry=FAST) as api:
        sent = api.send_events(frame)
        again = api.send_events(frame)  # new ids: a second send is new events, as asked
    assert (sent.inserted, again.inserted) == (2, 2)
    store = _store(db)
    try:
        stored = store.events(type="signup")
    finally:
        store.close()
    assert len(stored) == 4 and sum(e["value"] is None for e in stored) == 2


def test_a_prediction_and_its_feedback_retried_are_logged_once(server: tuple[str, str]) -> None:
    url, db = server
    transport = LosesAnswers(_every_first_try)
    texts = ["Acme beats forecasts", "Globex misses badly", "Initech flat"]
    with Client(url, API_KEY, retry=FAST, transport=transport) as api:
        answer = api.predict(texts, ["Acme", "Globex", "Initech"], user_id="u-7")
        ids = [p["id"] for p in answer["predictions"]]
        fb = api.feedback(ids[1], rating=1.0, comment="useful")
    keys = [k for _, _, k in transport.sent]
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]  # one key per call
    assert api.retries == 2
    store = _store(db)
    try:
        logged = [p for p in store.predictions() if p["id"] in ids]
        feedback = store.feedback()
    finally:
        store.close()
    assert sorted(p["id"] for p in logged) == sorted(ids)  # each prediction logged once
    assert [(f["id"], f["prediction_id"]) for f in feedback] == [(fb["id"], ids[1])]


def test_a_refused_request_raises_at_once_with_the_servers_words(server: tuple[str, str]) -> None:
    url, _ = server
    transport = LosesAnswers(lambda n, r: False)
    with (
        Client(url, API_KEY, retry=FAST, transport=transport) as api,
        pytest.raises(ApiError) as err,
    ):
        api.send_events([{"user_id": "u", "type": "bad type!"}])
    assert len(transport.sent) == 1  # a 422 is not retried
    assert err.value.status == 422 and err.value.error == "validation_error"
    assert "events.0.type" in str(err.value.detail) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"POST {url}/v1/events answered 422 validation_error: ")
    with Client(url, "wrong-key", retry=FAST) as api, pytest.raises(ApiError) as err:
        api.predict("x", "y")
    assert (err.value.status, err.value.error) == (403, "permission_denied_error")


def test_a_write_without_a_key_is_not_sent_again_when_its_answer_is_lost(
    server: tuple[str, str],
) -> None:
    url, _ = server
    transport = LosesAnswers(_every_first_try)
    body = {"name": "price-test", "variants": [{"name": "control"}, {"name": "b"}]}
    with Client(url, API_KEY, retry=FAST, transport=transport) as api:
        with pytest.raises(ApiError, match=r"the answer was lost .* not sent again") as err:
            api.request("POST", "/v1/experiments", json=body)
        assert err.value.status is None and len(transport.sent) == 1
        assert api.request("GET", "/v1/experiments/price-test")["name"] == "price-test"


def test_429_waits_its_retry_after(
    tmp_path: Path, db_url: str, serve_app: Any, serving_model: Any
) -> None:
    settings = make_settings(tmp_path, db_url, rate_per_minute=2)  # a burst of 2, one per 30 s
    waits: list[float] = []
    policy = RetryPolicy(max_wait_s=60)
    with (
        serve_app(create_app(settings)) as url,
        Client(url, API_KEY, retry=policy, sleep=waits.append) as api,
    ):
        for i in range(2):
            api.send_events([{"user_id": f"u{i}", "type": "visit"}])
        with pytest.raises(ApiError) as err:  # the recorded sleeps do not wait: every try 429s
            api.send_events([{"user_id": "u3", "type": "visit"}])
    assert err.value.status == 429 and "failed 5 tries; the last: 429" in str(err.value)
    assert len(waits) == 4 and all(25 <= w <= 30 and w == int(w) for w in waits), waits


def test_an_unreachable_server_is_retried_then_named(serve_app: Any) -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.5, jitter=0.0)
    with (
        Client("http://127.0.0.1:9", retry=policy, sleep=waits.append, timeout_s=2) as api,
        pytest.raises(ApiError, match=r"GET http://127.0.0.1:9/health failed 3 tries; "),
    ):
        api.health()
    assert waits == [0.5, 1.0]


def test_the_policy_and_url_are_checked() -> None:
    with pytest.raises(ConfigError, match="attempts must be an integer >= 1, got 0"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigError, match="jitter must be in"):
        RetryPolicy(jitter=1.5)
    with pytest.raises(ConfigError, match="url must start with http"):
        Client("127.0.0.1:8000")
    with pytest.raises(ConfigError, match=r"batch_size must be an integer in \[1, 1000\]"):
        Client("http://127.0.0.1:9").send_events([], batch_size=5000)
    waits = {RetryPolicy(jitter=0.5).wait_s(3) for _ in range(50)}
    assert min(waits) >= 0.5 and max(waits) <= 1.5 and len(waits) > 1  # 1.0 ± 50%


class LosesAnswersAsync(httpx.AsyncBaseTransport):
    """:class:`LosesAnswers` for the asyncio client."""

    def __init__(self, lose: Callable[[int, httpx.Request], bool]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lose = lose
        self.sent: list[tuple[str, str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        n = len(self.sent)
        self.sent.append((request.method, request.url.path, request.headers.get("idempotency-key")))
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.lose(n, request):
            await response.aclose()
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_async_client_retries_the_same_way(server: tuple[str, str]) -> None:
    import asyncio

    from bizmodel.client import AsyncClient

    url, db = server
    transport = LosesAnswersAsync(_every_first_try)
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    async def main() -> tuple[Any, Any, Any, Any]:
        async with AsyncClient(url, API_KEY, retry=FAST, transport=transport, sleep=sleep) as api:
            answer = await api.predict(["Acme beats forecasts"], ["Acme"])
            pid = answer["predictions"][0]["id"]
            fb = await api.feedback(pid, rating=-1.0)
            sent = await api.send_events(
                [
                    {"user_id": f"a{i}", "type": "trial", "client_event_id": f"t{i}"}
                    for i in range(3)
                ]
            )
            with pytest.raises(ApiError) as err:
                await api.send_events([{"user_id": "u", "type": "bad type!"}])
            return pid, fb, sent, err.value

    pid, fb, sent, refused = asyncio.run(main())
    assert sent == EventsSent(received=3, inserted=0, duplicates=3, requests=1, retries=1)
    # one lost answer per call (the refused call's too), then its 422 raises at once
    assert waits == [0.01] * 4
    assert refused.status == 422 and len(transport.sent) == 8
    store = _store(db)
    try:
        assert [p["id"] for p in store.predictions()] == [pid]
        assert [(f["id"], f["prediction_id"]) for f in store.feedback()] == [(fb["id"], pid)]
        assert sorted(e["client_event_id"] for e in store.events(type="trial")) == [
            "t0",
            "t1",
            "t2",
        ]
    finally:
        store.close()


def test_a_write_the_ingress_may_have_applied_is_not_sent_again(serve_app: Any) -> None:
    """Ray Serve's ingress (the real ASGI app, its replica dying on every call) answers a
    write without an idempotency key ``503 replica_lost``: the client raises it at once; an
    event batch (idempotent) is retried by the ingress itself, then by the client."""
    from bizmodel.scale.ingress import HttpRequest, HttpResponse, RetryingIngress

    class Died(Exception):
        pass

    calls: list[str] = []

    async def dies(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        raise Died

    ingress = RetryingIngress(dies, lost=(Died,), max_body_bytes=4096, backoff_s=0.0)
    body = {"name": "exp", "variants": [{"name": "a"}]}
    waits: list[float] = []
    with serve_app(ingress) as url, Client(url, "k", retry=FAST, sleep=waits.append) as api:
        with pytest.raises(ApiError) as err:
            api.request("POST", "/v1/experiments", json=body)
        assert (err.value.status, err.value.error) == (503, "replica_lost")
        assert calls == ["/v1/experiments"] and waits == []
        with pytest.raises(ApiError, match="failed 4 tries; the last: 503 replica_unavailable"):
            api.send_events([{"user_id": "u", "type": "visit"}])
    assert calls[1:] == ["/v1/events"] * 12  # 3 ingress attempts x 4 client tries
