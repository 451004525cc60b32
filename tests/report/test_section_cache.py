"""The dashboard's store experiments are analysed once per state of the store: a refresh with
no new data reuses them, a new event or exposure gives new numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bizmodel.store.metrics as store_metrics
from bizmodel.config import Settings
from bizmodel.report.project import project_report_data, store_experiment_results
from bizmodel.store import EventStore

METRICS = '[metrics]\nbought = { type = "any", event = "buy" }\n'


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    (tmp_path / "bizmodel.toml").write_text(f'database_url = "{db_url}"\n{METRICS}')
    store = EventStore.open(db_url)
    store.create_experiment("e", [{"name": "a"}, {"name": "b"}])
    for i in range(20):
        store.record_assignment("e", f"u{i}", "ab"[i % 2])
    store.add_events([{"user_id": f"u{i}", "type": "buy"} for i in (0, 0, 1, 3)])  # u0 twice
    store.close()
    return Settings.load(tmp_path, env={})


def _means(settings: Settings) -> list[float]:
    [result] = store_experiment_results(settings)[0]["e"]
    return [a.mean for a in result.arms]


def test_no_new_data_reuses_the_analysis_and_new_data_replaces_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[Any] = []
    real = store_metrics.experiment_statistics

    def counted(*args: Any, **kwargs: Any) -> Any:
        queries.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr("bizmodel.flywheel.experiments.experiment_statistics", counted)
    first = store_experiment_results(settings)
    assert _means(settings) == [1 / 10, 2 / 10]  # buyers / exposed users per arm
    assert store_experiment_results(settings) is first and len(queries) == 1
    project_report_data(settings)  # the dashboard refresh: no new query either
    assert len(queries) == 1

    store = EventStore.open(settings.resolved_database_url())
    store.add_events([{"user_id": "u2", "type": "buy"}])  # a new event in arm a
    assert _means(settings) == [2 / 10, 2 / 10] and len(queries) == 2
    store.record_assignment("e", "u20", "a")  # a new exposure: 11 users in arm a
    assert _means(settings) == [2 / 11, 2 / 10] and len(queries) == 3
    store.close()
    assert _means(settings) == [2 / 11, 2 / 10] and len(queries) == 3


def test_another_metric_definition_is_analysed_again(settings: Settings) -> None:
    first = store_experiment_results(settings)
    (settings.project_dir / "bizmodel.toml").write_text(
        f'database_url = "{settings.database_url}"\n'
        '[metrics]\nbought = { type = "count", event = "buy" }\n'
    )
    changed = Settings.load(settings.project_dir, env={})
    second = store_experiment_results(changed)
    assert second is not first
    assert [a.mean for a in second[0]["e"][0].arms] == [2 / 10, 2 / 10]  # u0 bought twice
