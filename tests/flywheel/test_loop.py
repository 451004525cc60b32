"""The whole loop at small scale: events in → KPIs → fit → optimise → report, truth recovered."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.flywheel import FlywheelResult, run_flywheel
from bizmodel.flywheel.loop import train_headline_model
from bizmodel.store import EventStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flywheel(module_tmp_path: Path) -> FlywheelResult:
    model = train_headline_model(
        module_tmp_path / "fw-model",
        rows=48,
        epochs=1,
        show_progress=False,
        batch_size=8,
        max_length=32,
        num_threads=1,
    )
    out = module_tmp_path / "fw" / "project"
    return run_flywheel(out, days=10, seed=0, model_dir=model, clients=2, show_progress=False)


def test_every_request_and_event_is_stored(flywheel: FlywheelResult) -> None:
    store = EventStore.open(flywheel.files["database"])
    try:
        assert store.count("predictions") == flywheel.served_predictions > 500
        assert store.count("events") == flywheel.stored_events > 1000
        assert store.count("feedback") == flywheel.stored_feedback > 50
    finally:
        store.close()


def test_growth_fit_recovers_the_simulated_truth(flywheel: FlywheelResult) -> None:
    # fitted from sign-ups read back from the store; every 95% CI covers its true coefficient
    assert all(flywheel.growth["covered"].values()), flywheel.growth
    assert flywheel.growth["params"]["price_usd"] < 0 < flywheel.growth["params"]["ad_spend_usd"]


def test_recommendation_is_feasible_and_uses_measured_cost(flywheel: FlywheelResult) -> None:
    rec = flywheel.recommendation
    assert rec["status"] == "optimal"
    assert 5.0 <= rec["levers"]["price_usd"] <= 40.0
    assert rec["quantities"]["margin"] >= 0.3 - 1e-6
    assert rec["levers"]["model"] in {"small", "large"}
    assert flywheel.inference_cost and flywheel.inference_cost["cpu_s_per_1k_best"] > 0
    assert "recommendation (optimal)" in flywheel.summary()


def test_report_has_every_section(flywheel: FlywheelResult) -> None:
    html = flywheel.report.read_text()
    for section in ("KPI", "Experiment", "Growth", "Pareto", "Model versions", "Drift"):
        assert section.lower() in html.lower(), section
    assert "advisor v1" in html


def test_cli_reads_the_project_back(
    flywheel: FlywheelResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["monitor", "--project", str(flywheel.output), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = {k["name"] for k in out["kpis"]["kpis"]}
    assert {"active_users", "revenue_usd", "gross_margin"} <= names
    # The KPI period ends where the simulated run ended, not after today's served predictions.
    cutoff = json.loads((flywheel.output / "analysis.json").read_text())["monitor_until"]
    assert pd.Timestamp(out["current_period"][1]) == pd.Timestamp(cutoff)
    report = tmp_path / "again.html"
    assert run(["report", "--project", str(flywheel.output), "-o", str(report)]) == 0
    assert "Pareto" in report.read_text()


def test_monitor_on_an_empty_project_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["monitor", "--project", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("Error: the event store holds no events yet")
