"""``bizmodel init`` and the ``--project`` option shared by every command on a project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizmodel.cli import run
from bizmodel.config import Settings, init_project
from bizmodel.store import EventStore


def test_init_writes_a_project_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.config import Settings

    assert run(["init", str(tmp_path / "p"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == str(tmp_path / "p" / "bizmodel.toml")
    s = Settings.load(tmp_path / "p", env={})
    assert s.project.title == "p" and s.metrics["revenue_usd"].type == "sum"
    assert run(["init", str(tmp_path / "p")]) == 1
    assert "already exists; bizmodel init never overwrites" in capsys.readouterr().err
    init_project(tmp_path / 'q"s', title='a "quoted" title')
    assert Settings.load(tmp_path / 'q"s', env={}).project.title == 'a "quoted" title'


@pytest.mark.parametrize(
    "command",
    ["serve", "monitor", "dashboard", "ab-test", "retrain", "register", "promote", "audit"],
)
def test_project_option_everywhere(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([command, "--help"]) == 0
    assert "BIZMODEL_PROJECT_DIR" in capsys.readouterr().out


def test_events_export_uses_the_project_or_its_env_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    init_project(tmp_path / "p")
    store = EventStore.open(Settings.load(tmp_path / "p", env={}).resolved_database_url())
    store.add_events([{"user_id": "u", "type": "signup"}])
    store.close()
    out = tmp_path / "e.csv"
    assert run(["events", "export", str(out), "--project", str(tmp_path / "p")]) == 0
    assert capsys.readouterr().out.strip() == f"1 events written to {out}"
    monkeypatch.setenv("BIZMODEL_PROJECT_DIR", str(tmp_path / "p"))
    monkeypatch.chdir(tmp_path)
    assert run(["events", "export", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"1 events written to {out}"
