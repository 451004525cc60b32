"""The app object itself: what it builds once and shares between requests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bizmodel.config import Settings
from bizmodel.optimize import example_spec_path
from bizmodel.webapp import create_app


def test_the_spec_is_found_with_the_apps_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_app does not load the project's settings a second time to find the spec."""
    shutil.copy(example_spec_path("saas"), tmp_path / "business_spec.toml")
    settings = Settings.load(tmp_path)

    def no_second_load(*args: object, **kwargs: object) -> Settings:
        raise AssertionError("Settings.load called again")

    monkeypatch.setattr(Settings, "load", no_second_load)
    app = create_app(settings)
    assert app.state.spec_path == tmp_path / "business_spec.toml"


def test_requests_share_one_store_opened_on_first_use_and_closed_at_shutdown(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages, the API, the path and the live report read one store: opened (and migrated) once,
    not per request nor per builder, and closed when the app shuts down."""
    from fastapi.testclient import TestClient

    from bizmodel.store import EventStore

    opened: list[EventStore] = []
    closed: list[EventStore] = []
    real_open, real_close = EventStore.open, EventStore.close

    def counted_open(url: str) -> EventStore:
        opened.append(real_open(url))
        return opened[-1]

    def counted_close(self: EventStore) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(EventStore, "open", staticmethod(counted_open))
    monkeypatch.setattr(EventStore, "close", counted_close)
    app = create_app(Settings.load(project))
    with TestClient(app) as client:
        assert opened == []  # lazily: nothing opened before a request reads the store
        for url in (
            "/?days=30",
            "/experiments",
            "/experiments/checkout",
            "/models",
            "/api/experiments/checkout",
            "/api/experiments/checkout/path",
            "/business",
            "/live/",
            "/live/api/sections",  # the live report's refresh
            "/live/api/sections",
        ):
            assert client.get(url).status_code == 200, url
        assert len(opened) == 1 and closed == []
        assert app.state.store.get() is opened[0]
    assert closed == opened  # the shutdown closed it
