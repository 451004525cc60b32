"""Project report inputs: the analysed period's cut-off in analysis.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bizmodel.config import Settings
from bizmodel.errors import DataError
from bizmodel.report.project import (
    analysis_cutoff,
    project_monitor,
    project_report_data,
    write_analysis,
)
from bizmodel.store import EventStore

CUTOFF = pd.Timestamp("2026-01-04", tz="UTC")


def _project(tmp_path: Path, *, live_event: bool = False) -> Settings:
    """Three simulated days of events before CUTOFF, predictions served two days later."""
    settings = Settings.load(project_dir=tmp_path, env={})
    store = EventStore.open(settings.resolved_database_url())
    try:
        days = ["2026-01-01T10:00:00Z", "2026-01-02T11:00:00Z", "2026-01-03T12:00:00Z"]
        store.add_events(
            {"user_id": f"u{i}", "type": "signup", "ts": ts} for i, ts in enumerate(days)
        )
        if live_event:
            store.add_events([{"user_id": "u9", "type": "visit", "ts": "2026-01-05T09:00:00Z"}])
        store.log_predictions(
            [
                {"model_name": "m", "model_version": 1, "inputs": {"text": f"t{i}"},
                 "output": 0.1 * i, "latency_ms": 1.0, "ts": f"2026-01-0{d}T08:00:00Z"}
                for i, d in enumerate([1, 2, 3, 6, 6])
            ]
        )  # fmt: skip
    finally:
        store.close()
    return settings


def test_monitor_ends_at_the_analysed_cutoff(tmp_path: Path) -> None:
    settings = _project(tmp_path)
    before = project_monitor(settings)  # no analysis yet: midnight after the last timestamp
    assert pd.Timestamp(before.current_period[1]) > CUTOFF
    write_analysis(tmp_path, {"experiments": []}, until=CUTOFF)
    assert analysis_cutoff(settings) == CUTOFF
    after = project_monitor(settings)
    assert pd.Timestamp(after.current_period[1]) == CUTOFF
    assert pd.Timestamp(after.kpis.table["end"].max()) == CUTOFF
    # An explicit until still wins; the key is not a report section.
    explicit = project_monitor(settings, until="2026-01-03T00:00:00Z")
    assert pd.Timestamp(explicit.current_period[1]) == pd.Timestamp("2026-01-03", tz="UTC")
    assert "monitor_until" not in project_report_data(settings)


def test_events_after_the_cutoff_mean_the_project_is_live(tmp_path: Path) -> None:
    settings = _project(tmp_path, live_event=True)
    write_analysis(tmp_path, {}, until=CUTOFF)
    assert pd.Timestamp(project_monitor(settings).current_period[1]) > CUTOFF


def test_a_bad_cutoff_is_a_clear_error(tmp_path: Path) -> None:
    settings = _project(tmp_path)
    (tmp_path / "analysis.json").write_text(json.dumps({"monitor_until": "yesterday"}))
    with pytest.raises(DataError, match="'monitor_until': 'yesterday' is not an ISO timestamp"):
        project_monitor(settings)
    (tmp_path / "analysis.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="must hold a JSON object"):
        project_report_data(settings)


def test_model_rows_price_a_gpu_version_by_the_gpu_hour(tmp_path: Path) -> None:
    from bizmodel.registry import Registry
    from bizmodel.report.project import model_version_rows

    src = tmp_path / "m"
    src.mkdir()
    (src / "bizmodel.json").write_text('{"task": "regression"}')
    (src / "metrics.json").write_text('{"dev": {"pearson": 0.8}}')
    registry = Registry(tmp_path / "proj" / "registry")
    cpu = {"cpu_s_per_1k_best": 3.6, "ms_per_1k_best": 2000.0, "hardware": {"device": "cpu"}}
    gpu = {"cpu_s_per_1k_best": 3.6, "ms_per_1k_best": 360.0, "hardware": {"device": "cuda:0"}}
    registry.register(src, "cpu", measure=lambda _: cpu)
    registry.register(src, "gpu", measure=lambda _: gpu)
    settings = Settings.load(tmp_path / "proj", env={})
    rows = {r["version"]: r for r in model_version_rows(settings)}
    # CPU: 3.6 CPU-s per 1k x $0.04 per core-hour; GPU: 0.36 wall-s per 1k x $2 per GPU-hour
    assert rows["cpu v1"]["cost_usd_per_1k"] == pytest.approx(3.6 * 0.04 / 3600, rel=1e-12)
    assert rows["gpu v1"]["cost_usd_per_1k"] == pytest.approx(0.36 * 2.0 / 3600, rel=1e-12)


def test_monitor_project_drifts_on_the_texts_asked_about(tmp_path: Path) -> None:
    from bizmodel.monitor.text_drift import text_drift

    settings = Settings.load(project_dir=tmp_path, env={})
    store = EventStore.open(settings.resolved_database_url())
    short = [f"stock {i} up" for i in range(60)]
    long = [f"a long headline about company {i} and its quarterly results" for i in range(60)]
    try:
        store.add_events(
            {"user_id": f"u{d}", "type": "visit", "ts": f"2026-01-{d:02d}T09:00:00Z"}
            for d in range(1, 15)
        )
        store.log_predictions(
            [
                {"model_name": "m", "model_version": 1, "inputs": {"text": t}, "output": 0.0,
                 "latency_ms": 1.0, "ts": f"2026-01-{1 + i % 7 + 7 * (k == 1):02d}T08:00:00Z"}
                for k, texts in enumerate((short, long)) for i, t in enumerate(texts)
            ]
        )  # fmt: skip
    finally:
        store.close()
    m = project_monitor(settings, until="2026-01-15T00:00:00Z", drift_days=7)
    got = {f.name: f for f in m.drift.features}
    oracle = {f.name: f for f in text_drift(short, long).features}
    for name in ("length_chars", "length_tokens"):
        assert got[name].psi == pytest.approx(oracle[name].psi, rel=1e-12)
        assert (got[name].n_reference, got[name].n_current) == (60, 60)
    assert got["length_chars"].severity == oracle["length_chars"].severity != "none"
