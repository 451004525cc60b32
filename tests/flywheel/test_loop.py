"""The whole loop at small scale: events in → KPIs → fit → optimise → report, truth recovered."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizmodel.flywheel import run_flywheel
from bizmodel.flywheel.loop import train_headline_model
from bizmodel.store import EventStore


@pytest.fixture(scope="module")
def headline_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_headline_model(
        tmp_path_factory.mktemp("fw-model"),
        rows=48,
        epochs=1,
        show_progress=False,
        batch_size=8,
        max_length=32,
        num_threads=1,
    )


@pytest.mark.slow
def test_flywheel_end_to_end(tmp_path: Path, headline_model: Path) -> None:
    res = run_flywheel(
        tmp_path / "fw", days=10, seed=0, model_dir=headline_model, clients=2, show_progress=False
    )
    # every simulated request was served over HTTP and every event stored exactly once
    store = EventStore.open(res.files["database"])
    try:
        assert store.count("predictions") == res.served_predictions > 500
        assert store.count("events") == res.stored_events > 1000
        assert store.count("feedback") == res.stored_feedback > 50
    finally:
        store.close()
    # the growth fit from stored sign-ups recovers the simulated truth within its 95% CIs
    assert all(res.growth["covered"].values()), res.growth
    # the optimiser's recommendation is feasible and inside the lever bounds
    rec = res.recommendation
    assert rec["status"] == "optimal"
    assert 5.0 <= rec["levers"]["price_usd"] <= 40.0
    assert rec["quantities"]["margin"] >= 0.3 - 1e-6
    assert rec["levers"]["model"] in {"small", "large"}
    # the report holds every section with data
    html = res.report.read_text()
    for section in ("KPI", "Experiment", "Growth", "Pareto", "Model versions"):
        assert section.lower() in html.lower(), section
    assert "advisor v1" in html
    assert res.inference_cost and res.inference_cost["cpu_s_per_1k_best"] > 0
    assert "recommendation (optimal)" in res.summary()
