"""Promoting a model version from the Models page: an admin key is required and recorded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bizmodel.config import Settings
from bizmodel.registry import Registry
from bizmodel.store import EventStore
from bizmodel.store.keys import KeyStore
from bizmodel.webapp import create_app

FORM = {"name": "advisor", "version": "1", "stage": "staging"}


def test_promote_needs_an_admin_key_and_is_audited(project: Path) -> None:
    settings = Settings.load(project, api_keys=("bootstrap-admin-key",))
    store = EventStore.open(settings.resolved_database_url())
    try:
        reader = KeyStore(store).create(["read"], name="viewer", actor="test").key
    finally:
        store.close()
    client = TestClient(create_app(settings), follow_redirects=False)

    refused = client.post("/models/promote", data=FORM)
    assert refused.status_code == 401 and "missing API key" in refused.text
    wrong = client.post("/models/promote", data={**FORM, "api_key": "guess"})
    assert wrong.status_code == 403 and "the API key is not valid" in wrong.text
    read_only = client.post("/models/promote", data={**FORM, "api_key": reader})
    assert read_only.status_code == 403 and "needs role &#39;admin&#39;" in read_only.text
    assert "staging" not in Registry(settings.resolved_registry_dir()).get("advisor", 1).stages

    done = client.post("/models/promote", data={**FORM, "api_key": "bootstrap-admin-key"})
    assert done.status_code == 303 and done.headers["location"] == "/models?promoted=advisor+v1"
    assert "staging" in Registry(settings.resolved_registry_dir()).get("advisor", 1).stages
    assert "Promoted advisor v1." in client.get(done.headers["location"]).text
    store = EventStore.open(settings.resolved_database_url())
    try:
        [entry] = KeyStore(store).audit_log(1)
    finally:
        store.close()
    who = [entry[k] for k in ("actor", "action", "target")]
    assert who == ["env:1", "model.promote", "advisor"]
    assert entry["detail"] == {"version": 1, "stage": "staging", "via": "webapp"}
