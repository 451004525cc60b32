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
