"""Tenants: each project under /t/NAME/ in its own database; a key of one tenant is refused
on every route of another (OWASP API1), data never crosses, sharing a database is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.server import create_app
from bizmodel.store import EventStore
from bizmodel.store.keys import ROLES

from .test_keys import CALLS, NEEDS, PATH_VALUES, _routes

OPERATOR = {"X-API-Key": "operator-key-0123"}
TENANTS = ("acme", "globex")


def _host(tmp_path: Path, extra: str = "") -> Path:
    host = tmp_path / "host"
    for name in TENANTS:
        (host / "tenants" / name).mkdir(parents=True)
    lines = "".join(f'{n} = "tenants/{n}"\n' for n in TENANTS)
    (host / "bizmodel.toml").write_text(f"[tenants]\n{lines}{extra}")
    return host


def _settings(host: Path) -> Settings:
    return Settings.load(host, env={}, api_keys=(OPERATOR["X-API-Key"],))


@pytest.fixture
def hosted(tmp_path: Path):  # type: ignore[no-untyped-def]
    """(client, {tenant: headers of its own all-roles key}); each tenant has experiment exp."""
    host = _host(tmp_path)
    with TestClient(create_app(_settings(host))) as c:
        keys = {}
        for name in TENANTS:
            made = c.post(f"/t/{name}/v1/keys", json={"roles": list(ROLES)}, headers=OPERATOR)
            assert made.status_code == 201, made.text
            keys[name] = {"X-API-Key": made.json()["key"]}
            exp = {"name": "exp", "variants": [{"name": "a"}]}
            assert c.post(f"/t/{name}/v1/experiments", json=exp, headers=OPERATOR).is_success
        yield c, keys


def _call(client: TestClient, tenant: str, method: str, path: str, headers: Any) -> Any:
    url = path
    for placeholder, value in PATH_VALUES.items():
        url = url.replace(placeholder, value)
    return client.request(
        method, f"/t/{tenant}{url}", headers=headers, **CALLS.get((method, path), {})
    )


def test_each_tenant_serves_every_keyed_route(hosted) -> None:  # type: ignore[no-untyped-def]
    client, _ = hosted
    for name in TENANTS:
        assert set(NEEDS) <= _routes(client.app.state.tenants[name])


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_a_tenants_key_is_refused_on_every_route_of_another(hosted, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    client, keys = hosted
    for own, other in (("acme", "globex"), ("globex", "acme")):
        r = _call(client, other, method, path, keys[own])
        assert r.status_code == 403, (own, other, r.text)
        assert r.json() == {
            "error": "permission_denied_error",
            "detail": "the API key is not valid",
        }
        assert _call(client, other, method, path, {}).status_code == 401  # reads need keys too
        assert _call(client, own, method, path, keys[own]).status_code not in (401, 403)


def test_data_never_crosses_tenants(hosted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, keys = hosted
    event = {"events": [{"user_id": "u1", "type": "signup", "client_event_id": "same-id"}]}
    for name in TENANTS:  # the same client id in each tenant: two events, one in each store
        r = client.post(f"/t/{name}/v1/events", json=event, headers=keys[name])
        assert r.json() == {"received": 1, "inserted": 1, "duplicates": 0}
    secret = {"name": "acme-only", "variants": [{"name": "a"}, {"name": "b"}]}
    assert client.post("/t/acme/v1/experiments", json=secret, headers=keys["acme"]).is_success
    seen = client.get("/t/globex/v1/experiments", headers=keys["globex"]).json()
    assert [e["name"] for e in seen] == ["exp"]
    r = client.get("/t/globex/v1/experiments/acme-only", headers=keys["globex"])
    assert r.status_code == 404 and "acme" not in r.json()["detail"].replace("acme-only", "")
    listed = client.get("/t/globex/v1/keys", headers=keys["globex"]).json()
    assert len(listed) == 1  # only its own key
    for name in TENANTS:
        store = EventStore.open(f"sqlite:///{tmp_path}/host/tenants/{name}/bizmodel.db")
        try:
            assert [e["client_event_id"] for e in store.events()] == ["same-id"]
            names = {e["name"] for e in store.list_experiments()}
            assert names == ({"exp", "acme-only"} if name == "acme" else {"exp"})
        finally:
            store.close()
    host_store = EventStore.open(f"sqlite:///{tmp_path}/host/bizmodel.db")
    try:
        assert host_store.count("events") == 0  # the host's own store got nothing
    finally:
        host_store.close()


def test_unknown_tenants_and_the_hosts_routes(hosted) -> None:  # type: ignore[no-untyped-def]
    client, keys = hosted
    r = client.post("/t/initech/v1/events", json={"events": []}, headers=OPERATOR)
    assert r.status_code == 404 and set(r.json()) == {"error", "detail"}
    assert client.get("/health").status_code == 200
    assert client.post("/v1/events", json={"events": []}, headers=keys["acme"]).status_code == 403


def test_tenants_sharing_a_database_or_a_missing_folder_is_a_config_error(
    tmp_path: Path,
) -> None:
    host = _host(tmp_path)
    shared = f'database_url = "sqlite:///{tmp_path}/one.db"\n'
    for name in TENANTS:
        (host / "tenants" / name / "bizmodel.toml").write_text(shared)
    with pytest.raises(ConfigError, match="tenant 'globex' and tenant 'acme' share one database"):
        create_app(_settings(host))
    (host / "tenants" / "globex" / "bizmodel.toml").write_text("")
    (host / "bizmodel.toml").write_text('[tenants]\nacme = "tenants/acme"\ngone = "nowhere"\n')
    with pytest.raises(ConfigError, match=r"tenants\.gone: folder .*nowhere' does not exist"):
        create_app(_settings(host))


def test_a_client_with_a_tenants_base_url_reads_and_writes_only_there(
    tmp_path: Path, serve_app: Any
) -> None:
    """``bizmodel.client.Client("http://HOST/t/acme", key)`` against a real server: every call
    lands in acme's store; acme's key against globex's base URL is refused."""
    from bizmodel.client import Client
    from bizmodel.errors import ApiError

    app = create_app(_settings(_host(tmp_path)))
    with serve_app(app) as url:
        with Client(f"{url}/t/acme", OPERATOR["X-API-Key"]) as operator:
            body = {"roles": ["ingest", "read"]}
            key = operator.request("POST", "/v1/keys", json=body)["key"]
            exp = {"name": "exp", "variants": [{"name": "a"}]}
            operator.request("POST", "/v1/experiments", json=exp)
        with Client(f"{url}/t/acme", key) as api:
            sent = api.send_events([{"user_id": "u1", "type": "visit", "client_event_id": "c1"}])
            assert (sent.inserted, api.assign("exp", "u1")["variant"]) == (1, "a")
        with Client(f"{url}/t/globex", key) as api, pytest.raises(ApiError) as err:
            api.send_events([{"user_id": "u1", "type": "visit"}])
        assert (err.value.status, err.value.detail) == (403, "the API key is not valid")
        acme, globex = (app.state.tenants[n].state.store for n in ("acme", "globex"))
        assert [e["client_event_id"] for e in acme.events(type="visit")] == ["c1"]
        assert globex.events(type="visit") == []
