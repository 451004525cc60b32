"""The template machinery: `new` writes a complete folder or nothing; `run` checks its options."""

from __future__ import annotations

import sys
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bizmodel import templates
from bizmodel.cli import run as cli_run
from bizmodel.config import Settings
from bizmodel.errors import ConfigError, ConflictError
from bizmodel.templates import TemplateRunResult, new_project, parse_option, run_project


class _Toy:
    name = "toy"
    title = "Toy product"
    description = "a template used by the tests"
    fail_write = False

    def default_options(self) -> dict[str, Any]:
        return {"rows": 10, "profile": "balanced", "tickers": ["AAA", "BBB"], "fast": True}

    def write(self, directory: Path, *, seed: int) -> None:
        (directory / "data").mkdir()
        (directory / "data" / "sample.csv").write_text(f"x\n{seed}\n")
        if self.fail_write:
            raise OSError("disk full")

    def run(
        self,
        settings: Settings,
        options: Mapping[str, Any],
        *,
        show_progress: bool = True,
        progress: Any = None,
    ) -> TemplateRunResult:
        report = settings.project_dir / "report.html"
        report.write_text("<html></html>")
        return TemplateRunResult(
            template=self.name,
            project_dir=settings.project_dir,
            report=report,
            metrics=dict(options),
            steps=("toy step",),
        )

    def api_router(self, settings: Settings) -> Any:
        return None


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> _Toy:
    module = types.ModuleType("bizmodel_toy_template")
    module.TEMPLATE = _Toy()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bizmodel_toy_template", module)
    monkeypatch.setitem(templates.TEMPLATES, "toy", "bizmodel_toy_template")
    return module.TEMPLATE  # type: ignore[attr-defined,no-any-return]


def test_new_writes_toml_and_files_then_run_merges_options(toy: _Toy, tmp_path: Path) -> None:
    made = new_project("toy", tmp_path / "proj", seed=7)
    assert made.files == ("bizmodel.toml", "data/sample.csv")
    toml = tomllib.loads((tmp_path / "proj" / "bizmodel.toml").read_text())
    assert toml["project"] == {
        "template": "toy",
        "title": "Toy product",
        "options": {"rows": 10, "profile": "balanced", "tickers": ["AAA", "BBB"], "fast": True},
    }
    assert Settings.load(tmp_path / "proj").project.template == "toy"
    result = run_project(tmp_path / "proj", options={"rows": 3}, show_progress=False)
    assert result.metrics["rows"] == 3 and result.metrics["profile"] == "balanced"
    assert result.seconds > 0
    assert "toy step" in result.summary()


def test_new_refuses_a_non_empty_folder_and_leaves_nothing_on_failure(
    toy: _Toy, tmp_path: Path
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ConflictError, match="already exists and is not an empty folder"):
        new_project("toy", tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]
    toy.fail_write = True
    with pytest.raises(OSError, match="disk full"):
        new_project("toy", tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # no staging folder left


def test_errors_name_what_is_valid(toy: _Toy, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown template 'shop'; valid: .*advisor"):
        new_project("shop", tmp_path / "x")
    with pytest.raises(ConfigError, match=r"no bizmodel\.toml in"):
        run_project(tmp_path)
    new_project("toy", tmp_path / "p")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['epoch'\].*valid: fast, "):
        run_project(tmp_path / "p", options={"epoch": 2})
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_option("epochs")


def test_cli_new_and_run(toy: _Toy, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["new", "toy", str(tmp_path / "p")]) == 0
    assert "next: cd" in capsys.readouterr().out
    assert cli_run(["run", str(tmp_path / "p"), "-o", "rows=5", "--no-progress", "--json"]) == 0
    assert '"rows": 5' in capsys.readouterr().out
    assert cli_run(["new", "nope", str(tmp_path / "q")]) == 1
    assert "unknown template 'nope'" in capsys.readouterr().err
