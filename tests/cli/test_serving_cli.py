"""CLI: register, models list/show, promote, events export, serve --help."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.store import EventStore


def fake_model_dir(path: Path) -> Path:
    (path / "model").mkdir(parents=True)
    (path / "bizmodel.json").write_text(json.dumps({"task": "regression"}))
    (path / "metrics.json").write_text(json.dumps({"dev_rmse": 0.25, "train_cpu_seconds": 30.0}))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("BIZMODEL_DATABASE_URL", "BIZMODEL_REGISTRY_DIR", "BIZMODEL_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIZMODEL_PROJECT_DIR", str(tmp_path))
    return tmp_path


def test_register_list_show_promote(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = fake_model_dir(project / "out")
    assert run(["register", str(src), "--name", "advisor", "--no-measure", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["name"], out["version"], out["train_cpu_seconds"]) == ("advisor", 1, 30.0)
    assert Path(out["path"]) == project / "registry" / "advisor" / "versions" / "1"
    assert run(["register", str(src), "--name", "advisor", "--no-measure"]) == 0
    assert capsys.readouterr().out.startswith("advisor v2  stages: -")

    assert run(["promote", "advisor", "1", "--stage", "production"]) == 0
    assert "advisor v1  stages: production" in capsys.readouterr().out
    assert run(["models", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name                     latest  stages",
        "advisor                       2  -",
    ]
    assert run(["models", "show", "advisor", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["stages"] == ["production"]
    assert run(["models", "show", "advisor", "--version", "latest"]) == 0
    assert "metrics: dev_rmse=0.25" in capsys.readouterr().out


def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = fake_model_dir(project / "out")
    assert run(["register", str(src), "--name", "../escape", "--no-measure"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: model name '../escape' is not valid") and err.count("\n") == 1
    assert not (project / "escape").exists()
    assert run(["promote", "nope", "1"]) == 1
    assert "no model named 'nope'" in capsys.readouterr().err
    assert run(["register", str(project), "--name", "m", "--no-measure"]) == 1
    assert "bizmodel.json is missing" in capsys.readouterr().err


def test_events_export(
    project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BIZMODEL_DATABASE_URL", db_url)
    store = EventStore.open(db_url)
    store.add_events([{"user_id": "u", "type": "signup"}, {"user_id": "u", "type": "churn"}])
    store.close()
    out = project / "exports" / "events.parquet"
    assert run(["events", "export", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"2 events written to {out}"
    assert list(pd.read_parquet(out)["type"]) == ["signup", "churn"]
    assert run(["events", "export", str(project / "e.json")]) == 1
    assert "must end in .csv or .parquet" in capsys.readouterr().err


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--help"]) == 0
    assert "--registry" in capsys.readouterr().out


def test_register_sample_reads_the_models_columns(tmp_path: Path) -> None:
    from bizmodel.cli.serving import _held_out
    from bizmodel.errors import DataError
    from bizmodel.finetune.artifacts import FORMAT, FORMAT_VERSION

    model = fake_model_dir(tmp_path / "m")
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": "regression",
        "columns": {"text": "company", "text_pair": "title"},
    }
    (model / "bizmodel.json").write_text(json.dumps(info))
    sample = tmp_path / "held.csv"
    pd.DataFrame({"company": ["Acme", "Hooli"], "title": ["Acme up", "Hooli down"]}).to_csv(
        sample, index=False
    )
    assert _held_out(model, sample) == (["Acme", "Hooli"], ["Acme up", "Hooli down"], None)
    info["columns"]["target"] = "score"
    (model / "bizmodel.json").write_text(json.dumps(info))
    pd.DataFrame({"company": ["Acme", "Hooli"], "title": ["a", "b"], "score": [0.5, -1]}).to_csv(
        sample, index=False
    )
    assert _held_out(model, sample)[2] == [0.5, -1.0]
    pd.DataFrame({"company": ["Acme"], "title": ["a"], "score": ["high"]}).to_csv(
        sample, index=False
    )
    with pytest.raises(DataError, match=r"row 1, column 'score': expected a number.*'high'"):
        _held_out(model, sample)
    pd.DataFrame({"company": ["Acme"], "headline": ["x"]}).to_csv(sample, index=False)
    with pytest.raises(DataError, match="unknown column 'title'"):
        _held_out(model, sample)
