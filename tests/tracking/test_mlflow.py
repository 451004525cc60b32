"""MLflow mirror against a real local MLflow store (SQLite): runs, registry versions, URIs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from bizmodel.cli import run
from bizmodel.errors import ConfigError
from bizmodel.tracking import mlflow as track


@pytest.fixture(scope="module")
def project(module_tmp_path: Path, tiny_model_dir: str) -> dict[str, str]:
    root = module_tmp_path
    uri = f"sqlite:///{root}/mlflow.db"
    (root / "bizmodel.toml").write_text(f'[tracking]\nmlflow_uri = "{uri}"\n')
    model = root / "trained"
    shutil.copytree(tiny_model_dir, model)
    return {"root": str(root), "uri": uri, "model": str(model)}


def test_a_training_run_has_params_metrics_history_and_artifacts(
    project: dict[str, str],
) -> None:
    run_id = track.track_training(project["model"], uri=project["uri"])
    assert json.loads((Path(project["model"]) / track.RUN_FILE).read_text())["run_id"] == run_id
    client = MlflowClient(project["uri"])
    r = client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.data.params["method"] == "full" and r.data.params["epochs"] == "1"
    metrics = json.loads((Path(project["model"]) / "metrics.json").read_text())
    assert r.data.metrics["dev_pearson"] == pytest.approx(metrics["dev"]["pearson"])
    assert r.data.metrics["train_cpu_seconds"] == pytest.approx(metrics["train_cpu_seconds"])
    history = client.get_metric_history(run_id, "epoch_train_loss")
    assert [(h.step, h.value) for h in history] == [
        (e["epoch"], pytest.approx(e["train_loss"])) for e in metrics["history"]
    ]
    info = json.loads((Path(project["model"]) / "bizmodel.json").read_text())
    assert r.data.tags["bizmodel.data_fingerprint"] == str(info["data_fingerprint"])
    files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {"model/bizmodel.json", "model/metrics.json"} <= files


def test_register_mirrors_a_version_with_cost_quality_and_alias(
    project: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = project["root"]
    assert run(["register", project["model"], "--name", "advisor", "--project", root]) == 0
    assert run(["promote", "advisor", "1", "--stage", "production", "--project", root]) == 0
    client = MlflowClient(project["uri"], registry_uri=project["uri"])
    (mv,) = client.search_model_versions("name = 'advisor'")
    recorded = json.loads((Path(project["model"]) / track.RUN_FILE).read_text())
    assert mv.run_id == recorded["run_id"]  # the training run, not a second one
    assert mv.tags["bizmodel.version"] == "1"
    assert float(mv.tags["cost.cpu_s_per_1k"]) == 2.0  # the suite's given cost (conftest)
    assert "quality.dev.pearson" in mv.tags
    assert client.get_model_version_by_alias("advisor", "production").version == mv.version
    capsys.readouterr()


def test_register_takes_a_models_uri_back_out_of_mlflow(
    project: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = project["root"]
    if not MlflowClient(project["uri"]).search_model_versions("name = 'advisor'"):
        assert run(["register", project["model"], "--name", "advisor", "--project", root]) == 0
    capsys.readouterr()
    args = ["register", "models:/advisor/1", "--name", "copy", "--project", root, "--json"]
    assert run(args) == 0
    out = json.loads(capsys.readouterr().out)
    copied = Path(out["path"])
    for f in ("bizmodel.json", "metrics.json", "config.json"):
        assert (copied / f).read_text() == (Path(project["model"]) / f).read_text()
    assert run(["register", "models:/nothing/9", "--name", "x", "--project", root]) == 1
    assert "models:/nothing/9: not found in MLflow" in capsys.readouterr().err


def test_missing_mlflow_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"needs mlflow: pip install 'bizmodel\[tracking\]'"):
        track.log_training_run("x", uri="sqlite:///x.db")


@pytest.mark.slow
def test_tune_logs_each_trial_nested_under_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("optuna")
    from bizmodel.datasets import financial_headlines
    from bizmodel.scale.tune import SearchSpace, tune

    data = tmp_path / "headlines.csv"
    financial_headlines(48, seed=0).to_csv(data, index=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.chdir(tmp_path)  # no project file: the tracking URI comes from the environment
    monkeypatch.delenv("BIZMODEL_PROJECT_DIR", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    args = dict(
        text="company", text_pair="headline", target="sentiment", split_column="split",
        space=SearchSpace(methods=("full",), max_epochs=1, batch_sizes=(16,)),
        storage=f"sqlite:///{tmp_path}/study.db", study="tiny", workdir=tmp_path / "trials",
        pruner="none", max_length=32, num_threads=1,
    )  # fmt: skip
    result = tune(data, trials=2, **args)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("bizmodel")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`bizmodel.kind` = 'study'")
    assert parent.data.tags["bizmodel.study"] == "tiny"
    assert parent.data.params == {"metric": "pearson", "direction": "maximize"}
    assert parent.data.metrics["best_dev_pearson"] == pytest.approx(result.best_value)
    assert parent.data.tags["bizmodel.best_trial"] == str(result.best_trial)

    def children() -> dict[int, Any]:
        found = client.search_runs(
            [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
        )
        return {int(r.data.tags["bizmodel.trial"]): r for r in found}

    runs = children()
    assert sorted(runs) == [0, 1]
    for t in result.trials:
        r = runs[t["number"]]
        assert r.info.status == "FINISHED"
        assert r.data.metrics["dev_pearson"] == pytest.approx(t["value"])
        params = {k: t[k] for k in ("method", "lr", "epochs", "batch_size")}
        assert r.data.params == {k: str(v) for k, v in params.items()}
    history = client.get_metric_history(runs[0].info.run_id, "epoch_dev_pearson")
    assert [h.step for h in history] == [1]
    resumed = tune(data, trials=3, **args)
    assert resumed.n_new == 1
    assert sorted(children()) == [0, 1, 2]  # the same parent, one new nested run
