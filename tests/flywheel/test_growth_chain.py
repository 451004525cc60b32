"""The loop from a project's store to its plan, end to end through the CLI and the HTTP API:
``init`` → ``events import`` (and ``POST /v1/events`` into a second project) → ``ab-test
--project --experiment`` → ``fit-growth --project`` → ``optimize --project`` → ``report
--project``, with no hand-written file; the numbers equal ``ab-test``/``fit-growth`` on the
flat file to 1e-9. On a small synthetic log everywhere, and on the real Hillstrom log (64,000
customers, three arms) when ``../shared/data`` is present."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from markupsafe import escape

from bizmodel.cli import run
from bizmodel.config import Settings
from bizmodel.datasets.hillstrom import (
    ARMS,
    LEVERS,
    PROJECT_TOML,
    hillstrom_api_events,
    hillstrom_event_log,
)
from bizmodel.report.formatting import format_cell
from bizmodel.store import EventStore

KEY = "chain-key-0123456789"


def synthetic(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """A Hillstrom-shaped file: segment, visit, conversion, spend; e-mails raise visits."""
    rng = np.random.default_rng(seed)
    segment = np.array(list(ARMS))[rng.integers(0, 3, n)]
    p_visit = pd.Series(segment).map(
        {"No E-Mail": 0.10, "Mens E-Mail": 0.20, "Womens E-Mail": 0.14}
    )
    visit = (rng.random(n) < p_visit.to_numpy()).astype(int)
    conversion = visit * (rng.random(n) < 0.15)
    spend = np.round(conversion * rng.lognormal(4, 0.5, n), 2)
    return pd.DataFrame(
        {"segment": segment, "visit": visit, "conversion": conversion, "spend": spend}
    )


def new_project(root: Path, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    pdir = root / name
    assert run(["init", str(pdir)]) == 0
    (pdir / "bizmodel.toml").write_text(PROJECT_TOML)
    capsys.readouterr()
    return pdir


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def numbers(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a JSON value by path, leaving out what only the store knows (data
    quality, the metric's role)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k not in ("warnings", "data_quality", "role"):
                out |= numbers(v, f"{path}.{k}")
        return out
    if isinstance(value, list):
        return {k: v for i, x in enumerate(value) for k, v in numbers(x, f"{path}[{i}]").items()}
    return {path: value}


def assert_close(a: Any, b: Any, what: str) -> None:
    na, nb = numbers(a), numbers(b)
    assert na.keys() == nb.keys(), what
    for k, x in na.items():
        y = nb[k]
        if isinstance(x, float) and isinstance(y, float | int):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (x != x and y != y), (
                f"{what}{k}: {x} != {y}"
            )
        else:
            assert x == y, f"{what}{k}: {x!r} != {y!r}"


def flat_results(
    capsys: pytest.CaptureFixture[str], flat: Path, levers: Path
) -> tuple[list[Any], Any]:
    """The oracle: ``ab-test`` per metric and ``fit-growth`` on the flat file."""
    arms = ",".join(ARMS.values())
    tests = [
        cli_json(capsys, "ab-test", str(flat), "--variant", "arm", "--metric", m, "--arms", arms)
        for m in ("visit", "conversion", "spend")
    ]
    fit = cli_json(
        capsys, "fit-growth", str(flat), "--target", "visit", "--variant", "arm", "--levers",
        str(levers),
    )  # fmt: skip
    return tests, fit


def chain(
    df: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str], http_users: int
) -> dict[str, Any]:
    """The whole loop on ``df``; ``http_users`` customers also go through the HTTP API."""
    from fastapi.testclient import TestClient

    from bizmodel.config import ServerSettings
    from bizmodel.server import create_app

    log = hillstrom_event_log(df)
    log.assign(time=[t.isoformat() for t in log["time"]]).to_csv(tmp_path / "log.csv", index=False)
    flat = df.assign(arm=df["segment"].map(ARMS), user_id=[f"c{i}" for i in range(len(df))])
    flat.to_csv(tmp_path / "flat.csv", index=False)
    # the oracle's lever file (the store's side reads them from [experiments.email])
    (tmp_path / "levers.json").write_text(json.dumps(LEVERS))

    # 1. events import into a plain project
    imported = new_project(tmp_path, "imported", capsys)
    store = EventStore.open(Settings.load(imported, env={}).resolved_database_url())
    store.create_experiment("email", [{"name": a} for a in ARMS.values()])
    store.close()
    mapping = "user_id=customer,ts=time,type=event,value=amount,variant=arm"
    got = cli_json(
        capsys, "events", "import", str(tmp_path / "log.csv"), "--project", str(imported),
        "--map", mapping, "--set", "experiment=email",
    )  # fmt: skip
    assert got["inserted"] == len(log)

    # 2. the first http_users customers through the HTTP API into a second project
    served = new_project(tmp_path, "served", capsys)
    subset = log[log["customer"].isin({f"c{i}" for i in range(http_users)})]
    settings = Settings.load(
        served, env={}, api_keys=(KEY,), server=ServerSettings(runtime="torch")
    )
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": KEY}
        body = {"name": "email", "variants": [{"name": a} for a in ARMS.values()]}
        assert client.post("/v1/experiments", json=body, headers=headers).status_code == 201
        events = hillstrom_api_events(subset)
        for k in range(0, len(events), 1000):
            r = client.post("/v1/events", json={"events": events[k : k + 1000]}, headers=headers)
            assert r.status_code == 200, r.text

    # 3. ab-test and fit-growth from each store equal the flat file's
    tests, fit = flat_results(capsys, tmp_path / "flat.csv", tmp_path / "levers.json")
    head = flat.iloc[:http_users]
    head.to_csv(tmp_path / "head.csv", index=False)
    head_tests, head_fit = flat_results(capsys, tmp_path / "head.csv", tmp_path / "levers.json")
    for pdir, want_tests, want_fit in ((imported, tests, fit), (served, head_tests, head_fit)):
        ab = cli_json(
            capsys, "ab-test", "--project", str(pdir), "--experiment", "email",
            "--metric", "visit,conversion,spend",
        )  # fmt: skip
        assert [r["metric"] for r in ab] == ["visit", "conversion", "spend"]
        for ours, theirs in zip(ab, want_tests, strict=True):
            assert_close(ours, theirs, f"{pdir.name} ab-test {ours['metric']}")
        stored = cli_json(
            capsys, "fit-growth", "--project", str(pdir), "--experiment", "email",
            "--metric", "visit",
        )  # fmt: skip
        assert stored["experiment"]["units"] == {
            a: int(want_tests[0]["arms"][i]["n"]) for i, a in enumerate(ARMS.values())
        }
        assert_close({k: v for k, v in stored.items() if k != "experiment"}, want_fit, "fit")
        on_disk = json.loads((pdir / "growth" / "email.json").read_text())
        assert on_disk == stored

    # 4. the plan from the declared spec and the stored fit; 5. the report
    plan = cli_json(capsys, "optimize", "--project", str(imported))
    assert json.loads((imported / "recommendation.json").read_text()) == plan
    out = tmp_path / "report.html"
    assert run(["report", "--project", str(imported), "-o", str(out)]) == 0
    return {"tests": tests, "fit": fit, "plan": plan, "html": out.read_text(), "flat": flat}


def check_report(page: str, tests: list[Any]) -> None:
    """The report shows the experiment per arm: sizes, rates, lift, CI, SRM; the fit and plan."""
    assert "Experiments from the store: every arm" in page
    for res in tests:
        for arm in res["arms"]:
            assert format_cell(arm["n"]) in page
            assert format_cell(arm["mean"]) in page
        for c in res["comparisons"]:
            for k in ("estimate", "ci_low", "ci_high"):
                assert format_cell(c[k]) in page, (res["metric"], k)
        assert format_cell(res["srm"]["p_value"]) in page
    assert "srm_p_value" in page
    assert (
        "Growth fit of experiment &#39;email&#39;" in page
        or "Growth fit of experiment 'email'" in page
    )
    assert "Recommended plan" in page


def test_the_loop_from_a_synthetic_store_to_its_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = chain(synthetic(), tmp_path, capsys, http_users=300)
    fit, plan = got["fit"], got["plan"]
    # the mens e-mail's effect on visits is large (0.20 vs 0.10): significant, no warning
    names = fit["param_names"]
    assert names == ["intercept", "mens_email", "womens_email"]
    effects = {e["coefficient"]: e for e in plan["growth_effects"]}
    se = math.sqrt(fit["cov"][1][1])
    assert effects["mens_email"]["estimate"] == pytest.approx(fit["params"][1], rel=1e-12)
    assert effects["mens_email"]["std_error"] == pytest.approx(se, rel=1e-12)
    assert effects["mens_email"]["significant"]
    assert plan["status"] == "optimal"
    assert plan["levers"]["mens_email"] == 1.0
    # the women's e-mail's (0.14 vs 0.10 on ~300 users an arm) is not: the plan says so
    assert not effects["womens_email"]["significant"]
    [warning] = plan["warnings"]
    assert warning.startswith("not significant: lever 'womens_email' rests on growth coefficient")
    assert "--robust 0.1" in warning
    flat = got["flat"]
    X = sm.add_constant(np.column_stack([flat["arm"] == "mens", flat["arm"] == "womens"]) * 1.0)
    oracle = sm.GLM(flat["visit"].to_numpy(float), X, family=sm.families.Poisson()).fit()
    for j, name in enumerate(names[1:], start=1):
        assert effects[name]["estimate"] == pytest.approx(oracle.params[j], rel=1e-6)
        assert effects[name]["p_value"] == pytest.approx(oracle.pvalues[j], rel=1e-6)
    assert f"p = {effects['womens_email']['p_value']:.3g} > 0.05" in warning
    assert str(escape(warning)) in got["html"]  # the report's plan says so too
    check_report(got["html"], got["tests"][:1])  # the report shows the goal metric


@pytest.mark.slow
def test_the_loop_on_the_hillstrom_log(
    shared_data: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = os.path.join(shared_data, "hillstrom", "hillstrom.csv")
    if not os.path.exists(path):
        pytest.skip("hillstrom.csv not present")
    df = pd.read_csv(path)
    got = chain(df, tmp_path, capsys, http_users=4000)
    assert [a["n"] for a in got["tests"][0]["arms"]] == [21306, 21307, 21387]
    plan = got["plan"]
    # both e-mails raise visits (10.6% → 18.3% and 15.1%), far beyond noise; the plan sends
    # the men's e-mail, worth 0.077 visits x $2 against $0.10
    assert all(e["significant"] for e in plan["growth_effects"])
    assert plan["warnings"] == []
    assert plan["levers"] == {"mens_email": 1.0, "womens_email": 0.0}
    rate = {a["name"]: a["mean"] for a in got["tests"][0]["arms"]}
    assert plan["quantities"]["visits"] == pytest.approx(64000 * rate["mens"], rel=1e-9)
    check_report(got["html"], got["tests"][:1])  # the report shows the goal metric
