"""``bizmodel run`` on a plain project (``bizmodel init``, no template): the one flywheel on the
store's events and experiment, and ``report --project`` computing the experiments section from
the store (or taking what ``ab-test --json`` printed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bizmodel.cli import run
from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.flywheel.business import lift_rows
from bizmodel.flywheel.experiments import analyze_project_experiment
from bizmodel.report.project import experiment_rows, project_report_data
from bizmodel.store import EventStore
from bizmodel.templates import run_project

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SPEC = """
[levers.price_usd]
min = 5.0
max = 40.0

[growth]
intercept = 6.0
coefficients = { price_usd = -0.05 }

[quantities]
users = "growth"
revenue_usd = "users * 0.1 * price_usd"

[objective]
maximize = { revenue_usd = 1.0, users = 0.5 }
"""


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A ``bizmodel init`` project with 400 users exposed to a two-arm experiment (b converts
    more often), their visits and purchases, all through the store API."""
    pdir = tmp_path / "shop"
    assert run(["init", str(pdir)]) == 0
    capsys.readouterr()
    rng = np.random.default_rng(0)
    store = EventStore.open(Settings.load(pdir).resolved_database_url())
    try:
        store.create_experiment("checkout", [{"name": "a"}, {"name": "b"}])
        events = []
        for i in range(400):
            user, arm = f"u{i}", "ab"[i % 2]
            t = T0 + timedelta(hours=i)
            store.record_assignment("checkout", user, arm, ts=t)
            events.append({"user_id": user, "type": "visit", "ts": t.isoformat()})
            if rng.random() < (0.10 if arm == "a" else 0.25):
                when = (t + timedelta(days=1)).isoformat()
                events.append({"user_id": user, "type": "purchase", "value": 20.0, "ts": when})
        store.add_events(events)
    finally:
        store.close()
    return pdir


def test_run_on_a_plain_project_analyses_the_stores_experiment(project: Path) -> None:
    store = EventStore.open(Settings.load(project).resolved_database_url())
    n_events = store.count("events")
    store.close()
    lines: list[str] = []
    result = run_project(project, show_progress=False, progress=lines.append)
    assert result.template == "plain"
    assert lines == [
        f"[1/4] monitoring {n_events} events, 0 predictions from the store",
        "[2/4] analysing 1 experiment(s) from the store (metrics: conversion, revenue_usd)",
        "[3/4] growth fit and plan skipped: the project declares no [levers] (in bizmodel.toml "
        "or a business_spec.toml)",
        "[4/4] writing the report",
    ]
    assert list(result.steps) == lines[:3]
    # the run's lifts are those of ab-test --project --experiment
    expected = lift_rows(
        analyze_project_experiment(Settings.load(project), "checkout"), experiment="checkout"
    )
    assert result.metrics["lifts"] == expected
    assert [r["name"] for r in expected] == [
        "checkout: b vs a: conversion",
        "checkout: b vs a: revenue_usd",
    ]
    assert expected[0]["lift"] > 0.5 and expected[0]["p_value"] < 0.05
    assert result.metrics["experiments"] == ["checkout"]
    assert "recommendation" not in result.metrics
    # analysis.json keeps no copy of the experiments: the report reads them from the store
    analysis = json.loads((project / "analysis.json").read_text())
    assert "experiments" not in analysis
    html = result.report.read_text()
    assert "checkout: b vs a: conversion" in html
    assert "Experiments from the store: every arm" in html


def test_report_takes_the_experiments_from_the_store_or_from_ab_test_json(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.load(project)
    data = project_report_data(settings)
    results = analyze_project_experiment(settings, "checkout")
    assert data["experiments"] == lift_rows(results, experiment="checkout")
    [arms] = [s for s in data["custom"] if s["key"] == "experiment_arms"]
    assert [(r["arm"], r["units"]) for r in arms["table"]] == [
        ("a (control)", 200),
        ("b", 200),
    ] * 2
    assert arms["table"][1]["lift"] == results[0].comparisons[0].estimate
    # what ab-test --json prints is accepted as the analysis' experiments section
    assert run(["ab-test", "--project", str(project), "--experiment", "checkout", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (project / "analysis.json").write_text(json.dumps({"experiments": printed}))
    assert project_report_data(settings)["experiments"] == lift_rows(results)
    assert experiment_rows(printed[0]) == lift_rows(results[:1])
    out = tmp_path / "r.html"
    assert run(["report", "--project", str(project), "-o", str(out)]) == 0
    assert "b vs a: conversion" in out.read_text()


@pytest.mark.parametrize("where", ["bizmodel.toml", "business_spec.toml"])
def test_a_plain_project_with_levers_gets_a_plan(project: Path, where: str) -> None:
    path = project / where
    path.write_text((path.read_text() if path.exists() else "") + SPEC)
    lines: list[str] = []
    result = run_project(project, show_progress=False, progress=lines.append)
    assert lines[2] == f"[3/4] optimising the business model of {where} (its own [growth] as given)"
    rec = json.loads((project / "recommendation.json").read_text())
    assert rec["status"] == "optimal"
    assert result.metrics["recommendation"]["levers"] == rec["levers"]
    assert 5.0 <= rec["levers"]["price_usd"] <= 40.0
    assert "pareto" in json.loads((project / "analysis.json").read_text())
    assert "Pareto" in result.report.read_text()


def test_options_are_for_template_projects(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"options \['epochs'\] are for template projects"):
        run_project(project, options={"epochs": 2}, show_progress=False)


def test_report_takes_fit_growth_json_as_the_growth_section(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    price = rng.uniform(5, 40, 60)
    rows = "\n".join(f"{p},{rng.poisson(np.exp(4 - 0.03 * p))}" for p in price)
    (tmp_path / "days.csv").write_text("price_usd,new_users\n" + rows + "\n")
    args = ["fit-growth", str(tmp_path / "days.csv"), "--target", "new_users"]
    assert run([*args, "--features", "price_usd", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (project / "analysis.json").write_text(json.dumps({"growth": printed}))
    data = project_report_data(Settings.load(project))
    assert "growth" not in data
    [table] = [s for s in data["custom"] if s["key"] == "growth_fit"]
    assert [r["coefficient"] for r in table["table"]] == ["intercept", "price_usd"]
    assert table["table"][1]["estimate"] == printed["params"][1]
    out = tmp_path / "r.html"
    assert run(["report", "--project", str(project), "-o", str(out)]) == 0
    assert "Growth fit: R(x)" in out.read_text()
