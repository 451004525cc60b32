import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.growth import GrowthFit


@pytest.fixture
def ab_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 600
    arm = np.array(["control", "B", "C"])[np.arange(n) % 3]
    pre = rng.normal(10, 2, n)
    y = pre + rng.normal(0, 1, n) + (arm == "B") * 0.8
    df = pd.DataFrame(
        {"user": np.arange(n), "arm": arm, "revenue": y, "pre": pre, "conv": (y > 11).astype(int)}
    )
    path = tmp_path / "ab.csv"
    df.to_csv(path, index=False)
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    out = capsys.readouterr()
    assert out.err == ""
    return json.loads(out.out)


def test_ab_test_text_summary(ab_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ab-test", str(ab_csv), "--variant", "arm", "--metric", "revenue"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A/B test of 'revenue' (mean), engine frequentist, relative lift")
    assert "control (control)" in out and "p-adj" in out and "SRM check" in out


def test_ab_test_json_engines(ab_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["ab-test", str(ab_csv), "--variant", "arm", "--metric", "revenue", "--json"]
    assert run([*base, "--covariate", "pre", "--absolute", "--control", "control"]) == 0
    d = _json(capsys)
    b = next(c for c in d["comparisons"] if c["arm"] == "B")
    assert d["metric_type"] == "mean (CUPED)" and d["relative"] is False
    assert b["ci_low"] < b["estimate"] < b["ci_high"] and 0.9 < b["theta"] < 1.1
    assert run([*base, "--engine", "bayesian", "--prior-mean", "0", "--prior-sd", "0.1"]) == 0
    d = _json(capsys)
    assert d["engine"] == "bayesian" and d["prior"]["proper"] is True
    assert run([*base, "--sequential", "--alternative", "greater", "--user", "user"]) == 0
    d = _json(capsys)
    assert d["engine"] == "sequential" and d["n_star"] == 5000.0
    assert d["comparisons"][0]["ci_high"] is None  # +inf printed as null


def test_ab_test_errors_are_one_line(ab_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ab-test", str(ab_csv), "--variant", "arm", "--metric", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {ab_csv}: column 'nope' not found; columns are ['user', 'arm'")
    assert err.count("\n") == 1
    args = ["ab-test", str(ab_csv), "--variant", "arm", "--metric", "revenue"]
    assert run([*args, "--engine", "magic"]) == 1
    assert "engine must be 'frequentist' or 'bayesian', got 'magic'" in capsys.readouterr().err
    assert run([*args, "--prior-mean", "0"]) == 1
    assert "needs both --prior-mean and --prior-sd" in capsys.readouterr().err
    assert run([*args, "--split", "1,x"]) == 1
    assert "--split must be comma-separated numbers, got '1,x'" in capsys.readouterr().err


def test_ab_test_all_empty_metric_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = tmp_path / "x.csv"
    x.write_text("arm,m\na,\nb,\n")
    assert run(["ab-test", str(x), "--variant", "arm", "--metric", "m"]) == 1
    assert capsys.readouterr().err == (
        f"Error: {x}: no rows left to analyse out of 2 (dropped 2 rows with missing 'm': "
        "{'a': 1, 'b': 1}); an A/B test needs numbers in column 'm' for at least 2 arms of "
        "column 'arm'\n"
    )


def test_ab_test_needs_a_file_or_an_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ab-test", "--metric", "m"]) == 1
    assert capsys.readouterr().err.startswith("Error: ab-test: give a DATA file")
    assert run(["ab-test", "x.csv", "--metric", "m"]) == 1
    assert "needs --variant and --metric" in capsys.readouterr().err


def test_readers_name_file_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("arm,y\nA,1\nB,2,3\n")
    assert run(["ab-test", str(bad), "--variant", "arm", "--metric", "y"]) == 1
    assert capsys.readouterr().err == f"Error: {bad}: row 3: expected 2 fields, saw 3\n"
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"arm": "A", "y": 1}\n{"arm": "B", "y": \n')
    assert run(["ab-test", str(jl), "--variant", "arm", "--metric", "y"]) == 1
    assert capsys.readouterr().err.startswith(f"Error: {jl}: line 2: not valid JSON")
    for name, msg in [("x.xlsx", "unknown file type '.xlsx'"), ("none.csv", "file not found")]:
        p = tmp_path / name
        if name.endswith("xlsx"):
            p.write_text("x")
        assert run(["ab-test", str(p), "--variant", "a", "--metric", "b"]) == 1
        assert msg in capsys.readouterr().err
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert run(["ab-test", str(empty), "--variant", "a", "--metric", "b"]) == 1
    assert capsys.readouterr().err == f"Error: {empty}: file is empty\n"


def test_parquet_and_jsonl_are_read(ab_csv: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    df = pd.read_csv(ab_csv)
    df.to_parquet(tmp_path / "ab.parquet")
    df.to_json(tmp_path / "ab.jsonl", orient="records", lines=True)
    outs = []
    for name in ("ab.parquet", "ab.jsonl"):
        path = str(tmp_path / name)
        assert run(["ab-test", path, "--variant", "arm", "--metric", "conv", "--json"]) == 0
        outs.append(_json(capsys)["comparisons"])
    assert outs[0] == outs[1]


def test_power_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["power", "--baseline", "0.1", "--proportion", "--mde", "0.1", "--json"]) == 0
    assert _json(capsys)["n_per_arm"] == 14749
    assert run(["power", "--baseline", "0.1", "--proportion", "--n", "14749"]) == 0
    assert "units per arm      14749" in capsys.readouterr().out
    assert run(["power", "--baseline", "5", "--mde", "0.1"]) == 1
    assert "give --sd for a mean metric" in capsys.readouterr().err
    assert run(["power", "--baseline", "5", "--sd", "1"]) == 1
    assert "give --mde (sample size), --n (minimum detectable effect) or both" in (
        capsys.readouterr().err
    )


def test_fit_growth_writes_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    n = 800
    df = pd.DataFrame(
        {
            "price": rng.uniform(5, 10, n),
            "plan": rng.choice(["free", "pro"], n),
            "users": rng.integers(10, 100, n),
        }
    )
    df["signups"] = rng.poisson(df.users * np.exp(-2 - 0.1 * df.price + 0.4 * (df.plan == "pro")))
    data = tmp_path / "m.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    args = ["fit-growth", str(data), "--target", "signups", "--features", "price,plan"]
    assert run([*args, "--exposure", "users", "--output", str(out), "--json"]) == 0
    printed = _json(capsys)
    fit = GrowthFit.from_json(out)
    assert printed == json.loads(out.read_text())
    assert fit.param_names == ("intercept", "price", "plan=pro") and fit.exposure
    assert abs(fit.params["plan=pro"] - 0.4) < 0.15
    assert run([*args, "--family", "negative_binomial", "--robust", "HC0"]) == 0
    assert "negative_binomial GLM, log link, 800 rows" in capsys.readouterr().out
    assert run([*args, "--family", "tweedie"]) == 1
    assert "family must be one of poisson, negative_binomial, gaussian; got 'tweedie'" in (
        capsys.readouterr().err
    )
    assert run([*args, "--reference", "plan"]) == 1
    assert "--reference must look like LEVER=LEVEL, got 'plan'" in capsys.readouterr().err


def test_fit_growth_from_an_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    arm = rng.choice(["control", "cheap", "ads"], 3000)
    price = np.where(arm == "cheap", 8.0, 10.0)
    ads = (arm == "ads").astype(float)
    pre = rng.normal(0, 1, 3000)
    df = pd.DataFrame(
        {"arm": arm, "pre": pre, "visits": rng.poisson(np.exp(1.5 - 0.1 * price + 0.3 * ads))}
    )
    data, levers = tmp_path / "exp.csv", tmp_path / "levers.json"
    df.to_csv(data, index=False)
    levers.write_text(
        json.dumps(
            {
                "control": {"price": 10, "ads": 0},
                "cheap": {"price": 8, "ads": 0},
                "ads": {"price": 10, "ads": 1},
            }
        )
    )
    args = ["fit-growth", str(data), "--target", "visits", "--variant", "arm"]
    assert run([*args, "--levers", str(levers), "--features", "pre", "--json"]) == 0
    d = _json(capsys)
    assert d["param_names"] == ["intercept", "ads", "price", "pre"]
    assert run([*args]) == 1
    assert "--levers and --variant go together" in capsys.readouterr().err
    levers.write_text("[1, 2]")
    assert run([*args, "--levers", str(levers)]) == 1
    assert 'expected {"arm": {"lever": value, ...}, ...}' in capsys.readouterr().err


def test_ab_test_expect_drops_mismatched_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["user,group,landing_page,y"]
    for u in range(40):
        arm, page = ("control", "old_page") if u % 2 == 0 else ("treatment", "new_page")
        if u in (3, 10):  # shown the other arm's page
            page = "old_page" if page == "new_page" else "new_page"
        rows.append(f"{u},{arm},{page},{u % 7 + (u % 2) * 0.5}")
    rows.append("20,control,new_page,3.0")  # user 20: a second, mismatched row
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    args = ["ab-test", str(path), "--variant", "group", "--metric", "y", "--user", "user"]
    rule = "landing_page=control:old_page,treatment:new_page"
    assert run([*args, "--expect", rule, "--json"]) == 0
    d = _json(capsys)
    q = d["data_quality"]
    assert (q["rows_exposure_mismatch"], q["users_exposure_mismatch"]) == (3, 3)
    assert q["rows_users_exposure_mismatch"] == 4 and q["rows_used"] == 37
    assert d["warnings"][0].startswith("exposure mismatch: 3 rows break the rule")
    assert run([*args, "--expect", "landing_page=control:old_page,B:new_page"]) == 1
    assert capsys.readouterr().err == (
        f"Error: {path}: exposure rule for 'landing_page': arm 'B' is not in column 'group'; "
        "arms are ['control', 'treatment']\n"
    )
    assert run([*args, "--expect", "landing_page"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: an exposure rule must look like COLUMN=ARM:VALUE,ARM:VALUE")
    assert err.count("\n") == 1
    # with --experiment the rule is on the events' properties (tests/flywheel/
    # test_declared_experiments.py); here the project has no metrics to analyse
    project = ["--project", str(tmp_path)]
    assert run(["ab-test", *project, "--experiment", "x", "--expect", rule]) == 1
    assert "bizmodel.toml: no metrics declared" in capsys.readouterr().err
