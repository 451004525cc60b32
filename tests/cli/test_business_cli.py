import json
from pathlib import Path

import pytest

from bizmodel.cli import run
from bizmodel.optimize import example_spec_path

SAAS = str(example_spec_path("saas"))


def test_optimize_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["optimize", SAAS, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"levers", "quantities", "objective", "status"} <= set(out)
    assert out["status"] == "optimal"
    assert out["levers"]["model"] == "large"
    assert out["binding_constraints"] == ["ad_spend_usd <= 15000"]


def test_optimize_text_with_sensitivity(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["optimize", SAAS, "--sensitivity"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("status: optimal\n")
    assert "shadow price" in out and "d(objective)/d(coefficient)" in out


def test_pareto_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["pareto", SAAS, "--objectives", "profit_usd,users", "--points", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objectives"] == ["profit_usd", "users"]
    assert len(out["points"]) >= 2
    assert all(set(p["values"]) == {"profit_usd", "users"} for p in out["points"])


def test_evaluate_plan(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "evaluate-plan",
        SAAS,
        "--set",
        "price_usd=20",
        "--set",
        "model=small",
        "--set",
        "ad_spend_usd=1000",
        "--json",
    ]
    assert run(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levers"] == {"price_usd": 20.0, "ad_spend_usd": 1000.0, "model": "small"}
    assert out["feasible"] is True
    assert out["quantities"]["revenue_usd"] == pytest.approx(out["quantities"]["users"] * 20)


def test_bad_spec_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(SAAS).read_text().replace("min = 5.0\nmax = 80.0", "min = 80.0\nmax = 5.0"))
    assert run(["optimize", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == f"Error: {bad}: levers.price_usd: min (80) > max (5); valid: min <= max\n"


def test_bad_set_and_unknown_objective(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["evaluate-plan", SAAS, "--set", "price_usd"]) == 1
    assert "--set 'price_usd': expected NAME=VALUE" in capsys.readouterr().err
    assert run(["pareto", SAAS, "--objectives", "profit_usd,fun"]) == 1
    assert "pareto: unknown objective 'fun'; valid: " in capsys.readouterr().err


def test_infeasible_exits_3_and_names_the_constraint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "tight.toml"
    spec.write_text(Path(SAAS).read_text().replace("margin >= 0.4", "margin >= 0.99995"))
    assert run(["optimize", str(spec), "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "infeasible"
    assert out["infeasible_constraint"] == "margin >= 0.99995"
    args = ["pareto", str(spec), "--objectives", "profit_usd,users", "--points", "3", "--json"]
    assert run(args) == 3
    front = json.loads(capsys.readouterr().out)
    assert front["status"] == "infeasible" and front["points"] == []
    assert front["infeasible_constraint"] == "margin >= 0.99995"
    assert "cannot be met" in front["message"] and front["closest"]["levers"]


def test_optimize_robust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "robust.toml"
    spec.write_text(
        Path(SAAS)
        .read_text()
        .replace(
            "coefficients = { price_usd = -0.04, ad_spend_usd = 0.00004, quality = 2.0 }",
            "coefficients = { price_usd = -0.04, ad_spend_usd = 0.00004, quality = 2.0 }\n"
            "std_errors = { intercept = 0.05, price_usd = 0.004 }",
        )
    )
    assert run(["optimize", str(spec), "--robust", "0.1", "--samples", "50", "--json"]) == 0
    rob = json.loads(capsys.readouterr().out)["robustness"]
    assert rob["mode"] == "quantile=0.1" and rob["samples"] == 50
    assert rob["objective_q05"] < rob["objective_mean"] < rob["objective_q95"]
    assert run(["optimize", str(spec), "--robust", "often"]) == 1
    assert "--robust: got 'often'; valid: 'expected' or a quantile in (0, 1)" in (
        capsys.readouterr().err
    )
