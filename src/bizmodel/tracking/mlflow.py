"""MLflow mirror: training runs and registered versions show up in a team's MLflow.

bizmodel's own registry stays the source of truth for serving; MLflow mirrors it, so a team
that already tracks runs in MLflow sees bizmodel's there too:

- :func:`log_training_run` — one MLflow run per model dir: the run configuration as params,
  dev/test metrics, training cost (wall and CPU seconds, samples/s), the per-epoch history
  (``train_loss``, ``dev_*`` with ``step`` = epoch), the data fingerprint as a tag, and the
  model dir's files as the run's ``model`` artifacts;
- :func:`mirror_version` — a Model Registry version of a registered bizmodel version, with
  the measured inference cost (``cpu_s_per_1k``, hardware) and headline quality as tags and
  every stage as an alias (``production``, ``staging``);
- :func:`log_study` — a ``bizmodel tune`` study: one parent run for the study and one nested
  run per finished trial (its hyper-parameters as params, its dev metric as ``dev_<metric>``,
  the per-epoch values as ``epoch_dev_<metric>``); a resumed study adds only the new trials;
- :func:`download_model` — ``models:/NAME/VERSION`` / ``models:/NAME@alias`` / ``runs:/...``
  to a local folder, so ``bizmodel register models:/...`` takes a version out of MLflow.

``mlflow`` (or ``mlflow-skinny``) is optional: ``pip install 'bizmodel[tracking]'``; without
it every function raises a one-line :class:`~bizmodel.errors.ConfigError` naming it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError

URI_SCHEMES = ("models:/", "runs:/")


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "MLflow tracking needs mlflow: pip install 'bizmodel[tracking]' (or mlflow-skinny)"
        ) from None
    return mlflow


def _client(uri: str) -> Any:
    return _mlflow().MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite-backed store go beside its database file (MLflow's default is
    ``./mlruns`` under whatever folder the command ran in); other stores decide themselves."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").resolve().as_uri()
    return None


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        out[prefix] = json.dumps(value)[:6000]
    else:
        out[prefix] = value


def _numbers(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out


def log_training_run(
    model_dir: str | Path,
    *,
    uri: str,
    experiment: str = "bizmodel",
    run_name: str | None = None,
    log_artifacts: bool = True,
) -> str:
    """Log the training run that wrote ``model_dir`` as an MLflow run; return its run id.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "m").mkdir(), (d / "m" / "bizmodel.json").write_text('{"task": "regression"}')
    >>> _ = (d / "m" / "metrics.json").write_text(json.dumps(
    ...     {"dev": {"pearson": 0.8}, "history": [{"epoch": 1, "train_loss": 0.5}]}))
    >>> uri = f"sqlite:///{d}/mlflow.db"
    >>> run_id = log_training_run(d / "m", uri=uri, log_artifacts=False)
    >>> import mlflow
    >>> mlflow.MlflowClient(uri).get_run(run_id).data.metrics["dev_pearson"]
    0.8
    """
    mlflow = _mlflow()
    model_dir = Path(model_dir)
    info = _read(model_dir / "bizmodel.json")
    config = _read(model_dir / "config.json")
    metrics = _read(model_dir / "metrics.json")
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = (
        exp.experiment_id
        if exp is not None
        else client.create_experiment(experiment, artifact_location=_artifact_root(uri))
    )
    tags = {
        "bizmodel.model_dir": str(model_dir.resolve()),
        "bizmodel.task": str(info.get("task", "")),
        "bizmodel.method": str(info.get("method", config.get("method", ""))),
        "bizmodel.base_model": str(info.get("base_model", "")),
        "bizmodel.data_fingerprint": str(info.get("data_fingerprint", "")),
    }
    run = client.create_run(exp_id, run_name=run_name or model_dir.name, tags=tags)
    run_id = str(run.info.run_id)
    try:
        params: dict[str, Any] = {}
        _flat("", config, params)
        entities = mlflow.entities
        client.log_batch(
            run_id,
            params=[entities.Param(k, str(v)[:6000]) for k, v in sorted(params.items())],
        )
        values = {
            **_numbers("dev_", metrics.get("dev") or {}),
            **_numbers("test_", metrics.get("test") or {}),
            **_numbers("", {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}),
        }
        batch = [entities.Metric(k, v, 0, 0) for k, v in sorted(values.items())]
        for entry in metrics.get("history") or []:
            step = int(entry.get("epoch", 0))
            for k, v in _numbers("epoch_", entry).items():
                if k != "epoch_epoch":
                    batch.append(entities.Metric(k, v, 0, step))
        for i in range(0, len(batch), 900):  # MLflow's batch limit is 1000 metrics
            client.log_batch(run_id, metrics=batch[i : i + 900])
        if log_artifacts:
            client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _experiment_id(client: Any, experiment: str, uri: str) -> str:
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(experiment, artifact_location=_artifact_root(uri)))


def log_study(
    study: str,
    trials: Sequence[Mapping[str, Any]],
    *,
    uri: str,
    metric: str,
    direction: str,
    experiment: str = "bizmodel",
) -> dict[int, str]:
    """Mirror a tuning ``study``: a parent run tagged ``bizmodel.study`` (found again when the
    study is resumed) and, nested under it, one run per finished trial not logged yet.

    Each trial is a mapping with ``number``, ``state`` (``complete`` or ``pruned``),
    ``value`` (the objective: dev ``metric``, None when pruned), ``params`` and optionally
    ``intermediate`` (``{epoch: dev metric}``) and ``model_dir``. A pruned trial's run ends
    ``KILLED``. The parent carries ``best_dev_<metric>`` and the best trial's number.
    Returns ``{trial number: run id}`` of the runs created by this call.

    Examples
    --------
    >>> import tempfile, mlflow
    >>> uri = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    >>> t = {"number": 0, "state": "complete", "value": 0.5, "params": {"lr": 1e-4}}
    >>> runs = log_study("s", [t], uri=uri, metric="pearson", direction="maximize")
    >>> mlflow.MlflowClient(uri).get_run(runs[0]).data.metrics
    {'dev_pearson': 0.5}
    >>> log_study("s", [t], uri=uri, metric="pearson", direction="maximize")  # resumed
    {}
    """
    entities = _mlflow().entities
    client = _client(uri)
    exp_id = _experiment_id(client, experiment, uri)
    key = study.replace("'", "")
    found = client.search_runs(
        [exp_id], f"tags.`bizmodel.study` = '{key}' and tags.`bizmodel.kind` = 'study'"
    )
    if found:
        parent = str(found[0].info.run_id)
    else:
        tags = {"bizmodel.study": key, "bizmodel.kind": "study"}
        parent = str(client.create_run(exp_id, run_name=study, tags=tags).info.run_id)
        client.log_batch(
            parent,
            params=[entities.Param("metric", metric), entities.Param("direction", direction)],
        )
    logged = {
        r.data.tags.get("bizmodel.trial")
        for r in client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    }
    new: dict[int, str] = {}
    for t in sorted(trials, key=lambda t: int(t["number"])):
        number = int(t["number"])
        if str(number) in logged or t["state"] not in ("complete", "pruned"):
            continue
        tags = {
            "mlflow.parentRunId": parent,
            "bizmodel.study": key,
            "bizmodel.trial": str(number),
            "bizmodel.trial_state": str(t["state"]),
        }
        if t.get("model_dir"):
            tags["bizmodel.model_dir"] = str(t["model_dir"])
        run_id = str(
            client.create_run(exp_id, run_name=f"{study}-trial-{number}", tags=tags).info.run_id
        )
        batch = [
            entities.Metric(f"epoch_dev_{metric}", float(v), 0, int(step))
            for step, v in sorted((t.get("intermediate") or {}).items())
            if math.isfinite(v)
        ]
        if t.get("value") is not None and math.isfinite(t["value"]):
            batch.append(entities.Metric(f"dev_{metric}", float(t["value"]), 0, 0))
        params = [entities.Param(k, str(v)[:6000]) for k, v in sorted(t["params"].items())]
        client.log_batch(run_id, metrics=batch, params=params)
        client.set_terminated(run_id, "FINISHED" if t["state"] == "complete" else "KILLED")
        new[number] = run_id
    done = [t for t in trials if t["state"] == "complete" and t.get("value") is not None]
    if done:
        pick = max if direction == "maximize" else min
        best = pick(done, key=lambda t: float(t["value"]))
        step = len(logged - {None}) + len(new)
        client.log_metric(parent, f"best_dev_{metric}", float(best["value"]), step=step)
        client.set_tag(parent, "bizmodel.best_trial", str(best["number"]))
    client.set_terminated(parent, "FINISHED")
    return new


def check_installed() -> None:
    """Raise the one-line :class:`ConfigError` naming the extra when mlflow is missing."""
    _mlflow()


def mirror_version(version: Any, *, uri: str, run_id: str | None = None) -> str:
    """Create the MLflow Model Registry version of a registered bizmodel ``version``
    (:class:`bizmodel.registry.ModelVersion`); return the MLflow version number.

    The source is the training run's ``model`` artifacts when ``run_id`` is given, else the
    registry's folder. Tags: ``bizmodel.version``, the inference cost (``cpu_s_per_1k``,
    ``ms_per_1k``, ``hardware``), training CPU-seconds and every headline metric; aliases:
    the version's stages.
    """
    client = _client(uri)
    name = version.name
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    cost = version.inference_cost or {}
    tags = {
        "bizmodel.version": str(version.version),
        "bizmodel.path": str(version.path),
        "bizmodel.data_fingerprint": str(version.data_fingerprint or ""),
    }
    if cost:
        tags["cost.cpu_s_per_1k"] = f"{cost.get('cpu_s_per_1k_best')}"
        tags["cost.ms_per_1k"] = f"{cost.get('ms_per_1k_best')}"
        tags["cost.statistic"] = str(cost.get("statistic", "measured"))
        if cost.get("hardware"):
            tags["cost.hardware"] = json.dumps(cost["hardware"])
    if version.train_cpu_seconds is not None:
        tags["cost.train_cpu_seconds"] = f"{version.train_cpu_seconds}"
    for split in ("dev", "test"):
        for k, v in _numbers(f"quality.{split}.", (version.metrics or {}).get(split) or {}).items():
            tags[k] = f"{v}"
    source = f"runs:/{run_id}/model" if run_id else Path(version.path).resolve().as_uri()
    mv = client.create_model_version(name, source, run_id=run_id, tags=tags)
    for stage in version.stages:
        client.set_registered_model_alias(name, stage, mv.version)
    return str(mv.version)


def set_alias(name: str, stage: str, mlflow_version: str, *, uri: str) -> None:
    """Point MLflow alias ``stage`` of model ``name`` at ``mlflow_version`` (a promotion)."""
    _client(uri).set_registered_model_alias(name, stage, mlflow_version)


def mlflow_version_of(name: str, bizmodel_version: int, *, uri: str) -> str | None:
    """The MLflow version that mirrors bizmodel version ``bizmodel_version`` of ``name``."""
    client = _client(uri)
    for mv in client.search_model_versions(filter_string=f"name = '{name}'"):
        if mv.tags.get("bizmodel.version") == str(bizmodel_version):
            return str(mv.version)
    return None


def is_mlflow_uri(ref: str | Path) -> bool:
    """Whether ``ref`` is an MLflow model or run URI rather than a local folder."""
    return str(ref).startswith(URI_SCHEMES)


def download_model(ref: str, dst: str | Path, *, uri: str | None) -> Path:
    """Download ``models:/NAME/VERSION`` (or ``@alias``) or ``runs:/RUN/PATH`` into ``dst``;
    return the local folder that holds the model dir (the one with ``bizmodel.json``)."""
    mlflow = _mlflow()
    if uri is None:
        raise ConfigError(
            f"{ref}: an MLflow URI needs a tracking URI: [tracking] mlflow_uri in bizmodel.toml "
            "or MLFLOW_TRACKING_URI"
        )
    try:
        source = ref
        if ref.startswith("models:/"):  # the version's source: its run's artifacts, a folder
            client = _client(uri)
            spec = ref[len("models:/") :].strip("/")
            if "@" in spec:
                name, alias = spec.split("@", 1)
                source = client.get_model_version_by_alias(name, alias).source
            else:
                name, _, number = spec.rpartition("/")
                source = client.get_model_version(name, number).source
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(dst), tracking_uri=uri
            )
        )
    except Exception as exc:  # MLflow raises its own exception types for every miss
        raise ConfigError(f"{ref}: not found in MLflow at {uri} ({type(exc).__name__})") from None
    found = [p.parent for p in [local / "bizmodel.json", *local.rglob("bizmodel.json")]]
    found = [p for p in found if (p / "bizmodel.json").is_file()]
    if not found:
        raise ConfigError(f"{ref}: the artifacts hold no bizmodel model dir (no bizmodel.json)")
    return found[0]


RUN_FILE = "mlflow_run.json"  # in a model dir: the MLflow run that logged its training


def track_training(model_dir: str | Path, *, uri: str, experiment: str = "bizmodel") -> str:
    """Log the training run of ``model_dir`` and record the run id in it (``mlflow_run.json``)
    so that ``register`` later makes the registry version from this run, not a new one."""
    run_id = log_training_run(model_dir, uri=uri, experiment=experiment)
    (Path(model_dir) / RUN_FILE).write_text(json.dumps({"run_id": run_id, "uri": uri}) + "\n")
    return run_id


def mirror_registration(version: Any, *, uri: str, experiment: str = "bizmodel") -> str:
    """Mirror a just-registered bizmodel ``version`` into MLflow: its training run (the one
    recorded in the model dir, else logged now) and a Model Registry version from it."""
    marker = Path(version.path) / RUN_FILE
    run_id = None
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        if recorded.get("uri") == uri:
            run_id = recorded.get("run_id")
    if run_id is None:
        run_id = log_training_run(version.path, uri=uri, experiment=experiment)
    return mirror_version(version, uri=uri, run_id=run_id)
