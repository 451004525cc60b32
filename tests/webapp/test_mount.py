"""``bizmodel serve`` with ``[server] dashboard = true``: the web app under /app/ on the same
store and registry, with the API's key rules (a read key when reads need one, admin to
promote)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bizmodel.config import Settings
from bizmodel.registry import Registry
from bizmodel.server.app import create_app
from bizmodel.store import EventStore
from bizmodel.store.keys import KeyStore

ADMIN = "mount-admin-key"


def _settings(project: Path, **server: Any) -> Settings:
    settings = Settings.load(project, api_keys=(ADMIN,))
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


def _read_key(settings: Settings) -> str:
    store = EventStore.open(settings.resolved_database_url())
    try:
        return KeyStore(store).create(["read"], name="viewer", actor="test").key
    finally:
        store.close()


def test_the_web_app_answers_under_serve(api_project: Path) -> None:
    with TestClient(create_app(_settings(api_project, dashboard=True))) as c:
        page = c.get("/app/monitoring", params={"days": 7})
        assert page.status_code == 200 and "fail: major drift" in page.text
        assert 'href="/app/models?days=7"' in page.text  # links stay under the mount
        assert '<script src="/app/static/plotly.min.js">' in page.text
        body = c.get("/app/api/monitoring", params={"days": 7}).json()
        assert {f["name"] for f in body["features"]} >= {"model_output", "length_chars"}
        bad = c.get("/app/api/monitoring", params={"days": 3})
        assert bad.status_code == 422 and bad.json()["detail"] == "days: got 3; valid: 7, 30, 90"
        assert c.get("/app/live/").status_code == 200
        assert c.get("/health").status_code == 200  # the API itself is unchanged
    with TestClient(create_app(_settings(api_project))) as c:
        assert c.get("/app/").status_code == 404  # off unless asked for


def test_mounted_app_keeps_the_key_rules(api_project: Path) -> None:
    settings = _settings(api_project, dashboard=True, read_requires_key=True)
    reader = _read_key(settings)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        assert c.get("/app/").status_code == 401
        assert c.get("/app/api/monitoring").json()["error"] == "auth_error"
        assert c.get("/app/", headers={"X-API-Key": "nope"}).status_code == 403
        assert c.get("/app/monitoring", headers={"X-API-Key": reader}).status_code == 200
        assert c.get("/app/login").status_code == 200
        wrong = c.post("/app/login", data={"api_key": "nope"})
        assert wrong.status_code == 403
        signed_in = c.post("/app/login", data={"api_key": reader})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/app/"
        assert c.get("/app/experiments").status_code == 200  # the cookie carries the key
        form = {"name": "advisor", "version": "1", "stage": "staging"}
        refused = c.post("/app/models/promote", data={**form, "api_key": reader})
        assert refused.status_code == 403 and "needs role &#39;admin&#39;" in refused.text
        done = c.post("/app/models/promote", data={**form, "api_key": ADMIN})
        assert done.status_code == 303
        assert done.headers["location"] == "/app/models?promoted=advisor+v1"
    assert "staging" in Registry(settings.resolved_registry_dir()).get("advisor", 1).stages


def test_serve_dashboard_flag_turns_it_on(tmp_path: Path, monkeypatch) -> None:
    import bizmodel.server.run
    from bizmodel.cli import run

    served: list[Settings] = []
    monkeypatch.setattr(bizmodel.server.run, "serve", lambda s, **_: served.append(s))
    assert run(["serve", "--project", str(tmp_path), "--dashboard"]) == 0
    assert run(["serve", "--project", str(tmp_path)]) == 0
    assert [s.server.dashboard for s in served] == [True, False]
