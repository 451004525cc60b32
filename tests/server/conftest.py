"""Fixtures for the HTTP tests: settings on a fresh database, clients with and without a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bizmodel.config import ServerSettings, Settings
from bizmodel.registry import Registry
from bizmodel.server import create_app

API_KEY = "test-key-0123456789"
HEADERS = {"X-API-Key": API_KEY}


def make_settings(tmp_path: Path, db_url: str, **server: object) -> Settings:
    opts = {"runtime": "torch", "max_wait_ms": 2.0, **server}
    return Settings.load(
        project_dir=tmp_path,
        env={},
        database_url=db_url,
        api_keys=(API_KEY, "second-key"),
        server=ServerSettings(**opts),  # type: ignore[arg-type]
    )


@pytest.fixture
def client(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """An app with an empty registry (no model): events, feedback, experiments."""
    with TestClient(create_app(make_settings(tmp_path, db_url))) as c:
        yield c


@pytest.fixture
def model_client(tmp_path: Path, db_url: str, serving_model):  # type: ignore[no-untyped-def]
    """An app serving version 1 of a registered model (version 2 registered too, staging)."""
    path, loader = serving_model
    reg = Registry(tmp_path / "registry")
    reg.register(path, "headlines")
    reg.register(path, "headlines")
    reg.promote("headlines", 1, "production")
    reg.promote("headlines", 2, "staging")
    app = create_app(make_settings(tmp_path, db_url), model_loader=loader)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def settings_for():  # type: ignore[no-untyped-def]
    """``make_settings`` for tests that build their own app."""
    return make_settings


@pytest.fixture
def headers() -> dict[str, str]:
    return dict(HEADERS)


@pytest.fixture
def sqlite_model_app(tmp_path: Path, serving_model):  # type: ignore[no-untyped-def]
    """``make(**server_options)`` -> an app serving the tiny model on SQLite (no PostgreSQL run:
    for endpoints that do not touch the database, like /v1/explain)."""
    path, loader = serving_model
    Registry(tmp_path / "registry").register(path, "headlines")
    db = f"sqlite:///{tmp_path}/bizmodel.db"

    def make(**server: object):  # type: ignore[no-untyped-def]
        return create_app(make_settings(tmp_path, db, **server), model_loader=loader)

    return make
