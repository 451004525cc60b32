"""Scoped keys over HTTP: each role gets exactly its endpoints, revocation takes effect on the
next request, per-key rate limits answer 429 with Retry-After, admin actions are audited, and
no key is ever stored or logged in plain text."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bizmodel.cli import run
from bizmodel.registry import Registry
from bizmodel.server import create_app
from bizmodel.store import EventStore
from bizmodel.store.keys import ROLES

BOOT = {"X-API-Key": "test-key-0123456789"}  # tests/server/conftest.py's bootstrap key
EVENT = {"events": [{"user_id": "u", "type": "visit"}]}

# The specification: the one role each keyed route needs. A new route fails the matrix until
# it is added here (or to OPEN).
NEEDS = {
    ("POST", "/v1/predict"): "predict",
    ("POST", "/v1/explain"): "predict",
    ("POST", "/v1/events"): "ingest",
    ("POST", "/v1/feedback"): "ingest",
    ("GET", "/v1/assign"): "ingest",
    ("GET", "/v1/experiments"): "read",
    ("GET", "/v1/experiments/{name}"): "read",
    ("GET", "/metrics"): "read",
    ("POST", "/v1/experiments"): "admin",
    ("PATCH", "/v1/experiments/{name}"): "admin",
    ("DELETE", "/v1/experiments/{name}"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/models/{name}/promote"): "admin",
    ("GET", "/v1/audit"): "admin",
}
OPEN = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
CALLS: dict[tuple[str, str], dict[str, Any]] = {  # a well-formed request for each route
    ("POST", "/v1/predict"): {"json": {"text": "x"}},
    ("POST", "/v1/explain"): {"json": {"text": "x", "n_steps": 2}},
    ("POST", "/v1/events"): {"json": EVENT},
    ("POST", "/v1/feedback"): {"json": {"prediction_id": "0" * 32, "rating": 1}},
    ("GET", "/v1/assign"): {"params": {"experiment": "exp", "user_id": "u1"}},
    ("POST", "/v1/experiments"): {"json": {"name": "e2", "variants": [{"name": "a"}]}},
    ("PATCH", "/v1/experiments/{name}"): {"json": {"status": "running"}},
    ("POST", "/v1/keys"): {"json": {"roles": ["read"]}},
    ("POST", "/v1/models/{name}/promote"): {"json": {"version": 1}},
}
PATH_VALUES = {"{name}": "exp", "{key_id}": "0" * 12}


def _routes(app: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    stack = list(app.routes)
    while stack:
        route = stack.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack.extend(inner.routes)
        elif getattr(route, "methods", None):
            out |= {(m, route.path) for m in route.methods - {"HEAD"}}
    return out


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = path
    for placeholder, value in PATH_VALUES.items():
        url = url.replace(placeholder, value)
    return client.request(method, url, headers=headers, **CALLS.get((method, path), {}))


@pytest.fixture
def keyed(tmp_path: Path, db_url: str, settings_for):  # type: ignore[no-untyped-def]
    """(client, {role: headers}) with reads keyed and one stored key per role."""
    app = create_app(settings_for(tmp_path, db_url, read_requires_key=True))
    with TestClient(app) as c:
        c.post("/v1/experiments", json={"name": "exp", "variants": [{"name": "a"}]}, headers=BOOT)
        made = {role: c.app.state.keys.create([role], actor="test").key for role in ROLES}
        yield c, {role: {"X-API-Key": key} for role, key in made.items()}


def test_every_route_is_in_the_matrix(keyed) -> None:  # type: ignore[no-untyped-def]
    client, _ = keyed
    assert _routes(client.app) == set(NEEDS) | OPEN
    assert not [
        r for r in client.app.routes if isinstance(r, APIRoute) and r.path.startswith("/v1")
    ]  # (FastAPI keeps included routers as one entry: _routes expands them)


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_each_role_gets_exactly_its_routes(keyed, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    client, headers = keyed
    assert _call(client, method, path, {}).status_code == 401
    assert _call(client, method, path, {"X-API-Key": "bzk_0123456789ab_" + "x" * 43}).json()[
        "error"
    ] == ("permission_denied_error")
    for role in ROLES:
        r = _call(client, method, path, headers[role])
        if role == NEEDS[(method, path)]:
            assert r.status_code not in (401, 403), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            assert f"needs role '{NEEDS[(method, path)]}'" in r.json()["detail"]
    assert _call(client, method, path, BOOT).status_code not in (401, 403)  # bootstrap: all


def test_open_routes_need_no_key(keyed) -> None:  # type: ignore[no-untyped-def]
    client, _ = keyed
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503  # (no model here) but not 401
    assert client.get("/openapi.json").status_code == 200


def test_reads_are_open_unless_configured(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/experiments").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/v1/assign", params={"experiment": "e", "user_id": "u"}).status_code == 401


def test_a_key_with_several_roles(keyed) -> None:  # type: ignore[no-untyped-def]
    client, _ = keyed
    r = client.post("/v1/keys", json={"roles": ["ingest", "read"], "name": "app"}, headers=BOOT)
    assert r.status_code == 201 and r.json()["roles"] == ["ingest", "read"]
    h = {"Authorization": f"Bearer {r.json()['key']}"}
    assert client.post("/v1/events", json=EVENT, headers=h).status_code == 200
    assert client.get("/v1/experiments", headers=h).status_code == 200
    assert client.post("/v1/predict", json={"text": "x"}, headers=h).status_code == 403


def test_revocation_over_http_is_effective_on_the_next_request(keyed) -> None:  # type: ignore[no-untyped-def]
    client, headers = keyed
    new = client.post("/v1/keys", json={"roles": ["ingest"]}, headers=headers["admin"]).json()
    h = {"X-API-Key": new["key"]}
    assert client.post("/v1/events", json=EVENT, headers=h).status_code == 200
    r = client.delete(f"/v1/keys/{new['id']}", headers=headers["admin"])
    assert r.status_code == 200 and r.json()["revoked_ts"] is not None
    r = client.post("/v1/events", json=EVENT, headers=h)
    assert r.status_code == 403 and r.json() == {
        "error": "permission_denied_error",
        "detail": "the API key is not valid",
    }
    listed = client.get("/v1/keys", headers=headers["admin"]).json()
    assert {k["id"] for k in listed} >= {new["id"]} and all("key" not in k for k in listed)


def test_revocation_by_the_cli_without_restart(tmp_path: Path, settings_for) -> None:  # type: ignore[no-untyped-def]
    # The CLI is another process's view of the same store: a server sees its revoke on the
    # next request with server.key_cache_s = 0, and within key_cache_s otherwise.
    db = f"sqlite:///{tmp_path}/bizmodel.db"  # the project's default store, as the CLI opens
    app = create_app(settings_for(tmp_path, db, key_cache_s=1.0))
    now = [0.0]
    with TestClient(app) as c:
        c.app.state.keyring.clock = lambda: now[0]
        key = c.app.state.keys.create(["ingest"], actor="test")
        h = {"X-API-Key": key.key}
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 200
        assert run(["keys", "revoke", key.info.id, "--project", str(tmp_path)]) == 0
        now[0] = 1.0  # key_cache_s later
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 403
        c.app.state.keyring.cache_s = 0.0  # no cache: the very next request
        other = c.app.state.keys.create(["ingest"], actor="test")
        h = {"X-API-Key": other.key}
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 200
        assert run(["keys", "revoke", other.info.id, "--project", str(tmp_path)]) == 0
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 403


def test_rate_limit_per_key_is_429_with_retry_after(
    tmp_path: Path, db_url: str, settings_for
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, db_url, rate_per_minute=3))
    now = [100.0]
    app.state.buckets.clock = lambda: now[0]
    with TestClient(app) as c:
        slow = c.app.state.keys.create(["ingest"], rate_per_minute=2, actor="test").key
        h = {"X-API-Key": slow}
        for _ in range(2):
            assert c.post("/v1/events", json=EVENT, headers=h).status_code == 200
        r = c.post("/v1/events", json=EVENT, headers=h)
        assert r.status_code == 429 and r.headers["Retry-After"] == "30"
        assert r.json() == {
            "error": "rate_limit_error",
            "detail": "more than 2 calls per minute for this API key; retry in 30 s",
        }
        # Other keys have their own buckets; the bootstrap key gets server.rate_per_minute.
        for _ in range(3):
            assert c.post("/v1/events", json=EVENT, headers=BOOT).status_code == 200
        assert c.post("/v1/events", json=EVENT, headers=BOOT).status_code == 429
        now[0] += 30.0  # one token back for the slow key
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 200
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 429
        assert c.app.state.store.count("events") == 6  # a refused call writes nothing


@pytest.mark.parametrize("scope", ["store", "process"])
def test_replicas_of_one_store_share_each_keys_rate_limit(
    tmp_path: Path, db_url: str, settings_for, scope: str
) -> None:  # type: ignore[no-untyped-def]
    """Two apps on one store stand for two replicas (serve --replicas 2, Ray Serve): with the
    buckets in the store a key gets its rate across both, in its own process N times it."""
    settings = settings_for(tmp_path, db_url, replicas=2, rate_limit_scope="auto")
    if scope == "process":
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"rate_limit_scope": scope})}
        )
    now = [1000.0]
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        for c in (a, b):
            c.app.state.buckets.clock = lambda: now[0]
        slow = a.app.state.keys.create(["ingest"], rate_per_minute=6, actor="test").key
        fast = a.app.state.keys.create(["ingest"], rate_per_minute=120, actor="test").key

        def served(key: str, calls: int) -> list[int]:
            h = {"X-API-Key": key}
            return [(a, b)[i % 2].post("/v1/events", json=EVENT, headers=h).status_code
                    for i in range(calls)]  # fmt: skip

        codes = served(slow, 14)
        if scope == "process":  # each replica counts on its own: twice the rate
            assert codes == [200] * 12 + [429] * 2
            return
        assert codes == [200] * 6 + [429] * 8  # one bucket: 6 a minute in all
        r = a.post("/v1/events", json=EVENT, headers={"X-API-Key": slow})
        assert r.headers["Retry-After"] == "10" and "more than 6 calls per minute" in r.text
        # a busy key leases 2 tokens (a second's worth) at a time: still 120 in all
        assert served(fast, 130) == [200] * 120 + [429] * 10
        now[0] += 10.0  # 10 s: one more call for the slow key, 20 for the fast one
        assert served(slow, 3) == [200, 429, 429]
        assert served(fast, 24) == [200] * 20 + [429] * 4
        assert a.app.state.store.count("events") == 6 + 120 + 1 + 20  # refused: not stored


def test_a_daily_quota_holds_across_replicas_and_restarts(
    tmp_path: Path, db_url: str, settings_for
) -> None:  # type: ignore[no-untyped-def]
    """A key made over HTTP with calls_per_day = 5: 5 calls a UTC day from two apps on one
    store, still used up after a restart, 429 until midnight, then 5 more."""
    settings = settings_for(tmp_path, db_url, calls_per_day=3)
    now = [86400.0 * 20400 + 22 * 3600]  # 22:00 UTC

    def clocked(app: Any) -> TestClient:
        client = TestClient(app)
        client.__enter__()
        client.app.state.quotas.clock = lambda: now[0]
        return client

    a, b = clocked(create_app(settings)), clocked(create_app(settings))
    try:
        body = {"roles": ["ingest"], "calls_per_day": 5}
        made = a.post("/v1/keys", json=body, headers=BOOT).json()
        assert made["calls_per_day"] == 5
        h = {"X-API-Key": made["key"]}
        codes = [(a, b)[i % 2].post("/v1/events", json=EVENT, headers=h).status_code
                 for i in range(7)]  # fmt: skip
        assert codes == [200] * 5 + [429] * 2
        r = a.post("/v1/events", json=EVENT, headers=h)
        assert r.headers["Retry-After"] == str(2 * 3600)
        assert r.json()["detail"] == (
            "this API key used its 5 calls of the day (UTC); retry in 7200 s"
        )
        b.__exit__(None, None, None)
        b = clocked(create_app(settings))  # a restarted replica: the day's count is kept
        assert b.post("/v1/events", json=EVENT, headers=h).status_code == 429
        # the server's default (calls_per_day = 3) for keys without their own
        other = a.post("/v1/keys", json={"roles": ["ingest"]}, headers=BOOT).json()["key"]
        codes = [a.post("/v1/events", json=EVENT, headers={"X-API-Key": other}).status_code
                 for _ in range(4)]  # fmt: skip
        assert codes == [200, 200, 200, 429]
        now[0] += 2 * 3600  # midnight: a new day
        codes = [(a, b)[i % 2].post("/v1/events", json=EVENT, headers=h).status_code
                 for i in range(6)]  # fmt: skip
        assert codes == [200] * 5 + [429]
        assert a.app.state.store.count("events") == 5 + 3 + 5
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)


def test_a_stopping_replica_gives_its_unspent_quota_back(
    tmp_path: Path, db_url: str, settings_for
) -> None:  # type: ignore[no-untyped-def]
    """A replica leases 64 calls of a 10,000-a-day key at its first call; after 3 calls it
    stops: the store counts 3 used, not 64 (and 1 of the operator's key, which made the key)."""
    from sqlalchemy import select

    from bizmodel.store.schema import key_usage

    def used(store: EventStore) -> list[int]:
        return [r["used"] for r in store._read(select(key_usage))]

    settings = settings_for(tmp_path, db_url, calls_per_day=10_000)
    with TestClient(create_app(settings)) as c:
        key = c.post("/v1/keys", json={"roles": ["ingest"]}, headers=BOOT).json()["key"]
        for _ in range(3):
            assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": key}).status_code == 200
        store = c.app.state.store
        assert used(store) == [64, 64]  # leased: the operator's key, then the new key
    store = EventStore.open(db_url)
    try:
        assert used(store) == [1, 3]  # made
    finally:
        store.close()


def test_admin_actions_are_audited(
    tmp_path: Path, db_url: str, serving_model, settings_for
) -> None:  # type: ignore[no-untyped-def]
    Registry(tmp_path / "registry").register(serving_model[0], "headlines")
    Registry(tmp_path / "registry").register(serving_model[0], "headlines")
    app = create_app(settings_for(tmp_path, db_url), model_loader=serving_model[1])
    with TestClient(app) as c:
        admin = c.app.state.keys.create(["admin"], actor="test")
        h = {"X-API-Key": admin.key}
        exp = {"name": "e", "variants": [{"name": "a"}]}
        assert c.post("/v1/experiments", json=exp, headers=h).status_code == 201
        assert c.patch("/v1/experiments/e", json={"status": "stopped"}, headers=h).is_success
        assert c.delete("/v1/experiments/e", headers=h).status_code == 204
        new = c.post("/v1/keys", json={"roles": ["predict"]}, headers=h).json()
        assert c.delete(f"/v1/keys/{new['id']}", headers=h).status_code == 200
        r = c.post("/v1/models/headlines/promote", json={"version": 2}, headers=h)
        assert r.json() == {"name": "headlines", "version": 2, "stages": ["production"]}
        r = c.post("/v1/models/headlines/promote", json={"version": 9}, headers=h)
        assert r.status_code == 404 and "registry" not in r.text
        served = c.post("/v1/predict", json={"text": "a", "text_pair": "b"}, headers=BOOT)
        assert served.json()["model_version"] == 2  # the promotion is served at once
        log = c.get("/v1/audit", headers=h).json()
    me = f"key:{admin.info.id}"
    assert [(e["actor"], e["action"], e["target"]) for e in log][:6] == [
        (me, "model.promote", "headlines"),
        (me, "key.revoke", new["id"]),
        (me, "key.create", new["id"]),
        (me, "experiment.delete", "e"),
        (me, "experiment.update", "e"),
        (me, "experiment.create", "e"),
    ]
    assert log[0]["detail"] == {"version": 2, "stage": "production"}


def test_no_plaintext_key_in_the_database_or_the_logs(tmp_path: Path, settings_for, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    db = f"sqlite:///{tmp_path}/bizmodel.db"
    app = create_app(settings_for(tmp_path, db))
    with TestClient(app) as c:
        made = c.post("/v1/keys", json={"roles": ["ingest"]}, headers=BOOT).json()["key"]
        h = {"X-API-Key": made}
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 200
        assert c.post("/v1/predict", json={"text": "x"}, headers=h).status_code == 403
        assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": made + "x"}).is_error
        c.delete(f"/v1/keys/{made.split('_')[1]}", headers=BOOT)
        assert c.post("/v1/events", json=EVENT, headers=h).status_code == 403
    assert run(["keys", "create", "--role", "read", "--project", str(tmp_path)]) == 0
    data = b"".join(p.read_bytes() for p in tmp_path.glob("bizmodel.db*"))
    secret = made.split("_", 2)[2]
    assert made.encode() not in data and secret.encode() not in data
    assert secret not in caplog.text and "bzk_" not in caplog.text
