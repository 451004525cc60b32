"""`bizmodel audit / explain / robustness`: thin shells over bizmodel.responsible."""

import json
from pathlib import Path

import numpy as np
import pytest

from bizmodel.cli import run
from bizmodel.datasets import financial_headlines


@pytest.fixture(scope="module")
def segmented_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("resp-cli") / "news.csv"
    df = financial_headlines(30, seed=2)
    df["region"] = np.where(np.arange(30) % 3 == 0, "south", "north")
    df.to_csv(p, index=False)
    return p


def test_audit_json(tiny_model_dir: str, segmented_csv: Path, tmp_path: Path, capsys) -> None:
    saved = tmp_path / "audit.json"
    code = run(["audit", tiny_model_dir, str(segmented_csv), "--segment", "region",
                "--n-boot", "200", "--output", str(saved), "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert json.loads(saved.read_text()) == out
    assert [s["segment"] for s in out["segments"]] == ["north", "south"]
    assert out["n"] == 30 and out["metric"] == "mae" and "mae" in out["disparity"]


def test_audit_text_and_errors(tiny_model_dir: str, segmented_csv: Path, capsys) -> None:
    assert run(["audit", tiny_model_dir, str(segmented_csv), "--segment", "region",
                "--n-boot", "100"]) == 0  # fmt: skip
    assert "by region" in capsys.readouterr().out
    assert run(["audit", tiny_model_dir, str(segmented_csv), "--segment", "sector"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "unknown column 'sector'" in err and "'region'" in err
    assert len(err.strip().splitlines()) == 1
    assert run(["audit", tiny_model_dir, "missing.csv", "--segment", "region"]) == 1
    assert "file not found" in capsys.readouterr().err


def test_explain_json_and_html(tiny_model_dir: str, tmp_path: Path, capsys) -> None:
    page = tmp_path / "e.html"
    code = run(["explain", tiny_model_dir, "Acme Corp", "--text-pair", "Acme Corp raises dividend",
                "--n-steps", "50", "--html", str(page), "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"][0] == "[CLS]" and len(out["tokens"]) == len(out["attributions"])
    assert "> raises<" in page.read_text()  # word pieces: "divide" + "##nd"


def test_explain_shap(tiny_model_dir: str, capsys) -> None:
    code = run(["explain", tiny_model_dir, "Acme", "--text-pair", "Acme raises dividend",
                "--method", "shap", "--n-samples", "30", "--seed", "1", "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "shap" and out["n_steps"] is None and out["n_samples"] > 0
    gap = out["prediction"] - out["baseline_prediction"]
    assert sum(out["attributions"]) == pytest.approx(gap, abs=1e-6)


def test_explain_errors(tiny_model_dir: str, tmp_path: Path, capsys) -> None:
    assert run(["explain", tiny_model_dir, "Acme Corp"]) == 1
    assert "give --text-pair too" in capsys.readouterr().err
    assert run(["explain", tiny_model_dir, "A", "--text-pair", "B", "--method", "lime"]) == 1
    assert "valid: ig, shap" in capsys.readouterr().err
    assert run(["explain", tiny_model_dir, "A", "--text-pair", "B", "--html", "x.txt"]) == 1
    assert "must end in .html" in capsys.readouterr().err
    assert run(["explain", str(tmp_path), "A"]) == 1
    assert capsys.readouterr().err.startswith("Error: ")


def test_robustness_cli(tiny_model_dir: str, segmented_csv: Path, capsys) -> None:
    code = run(["robustness", tiny_model_dir, str(segmented_csv), "--perturbation", "typo",
                "--perturbation", "synonym", "--seed", "1", "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["kind"] for p in out["perturbations"]] == ["typo", "synonym"] and out["seed"] == 1
    assert run(["robustness", tiny_model_dir, str(segmented_csv), "--perturbation", "x"]) == 1
    assert "unknown perturbation 'x'" in capsys.readouterr().err
    assert run(["robustness", tiny_model_dir, str(segmented_csv), "--output", "r.txt"]) == 1
    assert "must end in .json" in capsys.readouterr().err


def test_checks_of_a_registered_version_are_stored_and_reported(
    tiny_model_dir: str, segmented_csv: Path, tmp_path: Path, capsys
) -> None:
    from bizmodel.config import Settings
    from bizmodel.registry import Registry
    from bizmodel.report.project import model_check_sections

    reg = Registry(tmp_path / "registry")
    reg.register(tiny_model_dir, "headlines")
    root = str(reg.root)
    assert run(["audit", "headlines", str(segmented_csv), "--segment", "region",
                "--n-boot", "100", "--registry", root]) == 0  # fmt: skip
    assert "Stored as the audit check of headlines v1" in capsys.readouterr().out
    assert run(["robustness", "headlines:1", str(segmented_csv), "--perturbation", "typo",
                "--registry", root, "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)  # --json output stays one JSON object
    mv = reg.get("headlines", 1)
    assert mv.checks["audit"]["segment_columns"] == ["region"]
    assert mv.checks["robustness"]["clean"] == out["clean"]
    settings = Settings.load(project_dir=tmp_path, env={}, registry_dir=reg.root)
    keys = [s["key"] for s in model_check_sections(settings)]
    assert keys == ["audit-headlines-v1", "robustness-headlines-v1"]
    # A plain model dir is not a registered version: nothing is stored anywhere.
    assert run(["robustness", tiny_model_dir, str(segmented_csv), "--perturbation", "typo"]) == 0
    assert "Stored as" not in capsys.readouterr().out
