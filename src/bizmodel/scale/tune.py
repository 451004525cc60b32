"""Hyper-parameter search: ``bizmodel tune DATA ... --trials N [--backend local|ray]``.

One search space (:func:`suggest`: learning rate, epochs, batch size, method and, for LoRA
methods, rank/alpha/dropout), one objective (the dev metric of
:func:`bizmodel.finetune.train`, the local training function) and Optuna's TPE sampler.
Trials report the dev metric after every epoch, and a pruner (median or hyperband) stops
unpromising ones early. With ``backend="ray"`` Ray Tune runs trials in parallel with the same
space through its Optuna searcher and prunes with the matching Ray scheduler (median stopping
rule or ASHA).

The study lives in a database so that running the same command again resumes it: with
``trials=N`` the search runs until the study holds N finished (complete or pruned) trials.
By default it is the project's database: for SQLite a sibling file ``<name>-optuna.db`` and
for PostgreSQL the schema ``optuna`` of the same database (Optuna and the event store both
keep an Alembic version table, so they cannot share one namespace). The first trial of a new
study is the default configuration, so the search never reports a configuration worse than
the defaults on the dev metric. The best trial's model dir is kept (the others are deleted)
and can be registered in the project registry. With an MLflow tracking URI configured, each
finished trial is an MLflow run nested under one run for the study.

Examples
--------
>>> study_storage_url("sqlite:////srv/project/bizmodel.db")
'sqlite:////srv/project/bizmodel-optuna.db'
>>> study_storage_url("postgresql+psycopg://u@db:5432/biz")
'postgresql+psycopg://u@db:5432/biz?options=-csearch_path%3Doptuna'
"""

from __future__ import annotations

import functools
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError

METHODS = ("full", "lora", "adalora")
PEFT_METHODS = ("lora", "adalora")
BATCH_SIZES = (8, 16, 32)
PRUNERS = ("median", "hyperband", "none")
BACKENDS = ("local", "ray")
SCHEMA = "optuna"


@dataclass(frozen=True)
class SearchSpace:
    """What :func:`suggest` may choose from.

    Parameters
    ----------
    methods : tuple of str
        Fine-tuning methods to try (``full``, ``lora``, ``adalora``, ...).
    max_epochs : int
        Epochs are drawn from ``1..max_epochs``.
    batch_sizes : tuple of int
        Batch sizes to try.
    lr_range : tuple of float
        Learning rates are drawn log-uniformly from this interval.
    """

    methods: tuple[str, ...] = METHODS
    max_epochs: int = 4
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    lr_range: tuple[float, float] = (1e-5, 1e-3)

    def default_params(self) -> dict[str, Any]:
        """The default training run expressed in this space (the first trial of a study)."""
        from bizmodel.finetune.config import TrainConfig
        from bizmodel.finetune.methods import get_method

        method = self.methods[0]
        base = TrainConfig(text="t", target="y")
        params: dict[str, Any] = {
            "method": method,
            "lr": min(max(get_method(method).default_lr, self.lr_range[0]), self.lr_range[1]),
            "epochs": min(base.epochs, self.max_epochs),
            "batch_size": base.batch_size
            if base.batch_size in self.batch_sizes
            else self.batch_sizes[0],
        }
        if method in PEFT_METHODS:
            params.update(
                lora_r=base.lora_r, lora_alpha=base.lora_alpha, lora_dropout=base.lora_dropout
            )
        return params


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Draw one configuration from ``space`` with an Optuna ``trial`` (define-by-run).

    LoRA rank, alpha and dropout are drawn only for PEFT methods (``lora``, ``adalora``).
    Returns the :func:`bizmodel.finetune.train` keyword arguments of the trial.

    Examples
    --------
    >>> import optuna
    >>> trial = optuna.trial.FixedTrial({"method": "full", "lr": 1e-4, "epochs": 2,
    ...                                   "batch_size": 16})
    >>> suggest(trial, SearchSpace())
    {'method': 'full', 'lr': 0.0001, 'epochs': 2, 'batch_size': 16}
    """
    method = trial.suggest_categorical("method", list(space.methods))
    params: dict[str, Any] = {
        "method": method,
        "lr": trial.suggest_float("lr", *space.lr_range, log=True),
        "epochs": trial.suggest_int("epochs", 1, space.max_epochs),
        "batch_size": trial.suggest_categorical("batch_size", list(space.batch_sizes)),
    }
    if method in PEFT_METHODS:
        params["lora_r"] = trial.suggest_categorical("lora_r", [4, 8, 16])
        params["lora_alpha"] = trial.suggest_categorical("lora_alpha", [8, 16, 32])
        params["lora_dropout"] = trial.suggest_float("lora_dropout", 0.0, 0.3)
    return params


def study_storage_url(database_url: str) -> str:
    """Where studies go for the project database ``database_url`` (see the module doc)."""
    if database_url.startswith("sqlite"):
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            raise ConfigError(
                "an in-memory SQLite database cannot hold a resumable study; give --storage"
            )
        path = Path(database_url.split("///", 1)[1])
        return "sqlite:///" + (path.parent / f"{path.stem}-optuna.db").as_posix()
    if database_url.startswith("postgresql"):
        sep = "&" if "?" in database_url else "?"
        return f"{database_url}{sep}options=-csearch_path%3D{SCHEMA}"
    return database_url


def _open_storage(url: str) -> Any:
    """An Optuna RDB storage at ``url`` (creating the ``optuna`` schema on PostgreSQL)."""
    optuna = _optuna()
    if url.startswith("postgresql") and f"search_path%3D{SCHEMA}" in url:
        import sqlalchemy as sa

        engine = sa.create_engine(url.split("?", 1)[0])
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        finally:
            engine.dispose()
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # sqlalchemy/optuna raise many kinds; name the URL
        raise ConfigError(f"cannot open study storage {url!r}: {exc}") from None


def _optuna() -> Any:
    from bizmodel.scale import require

    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass(frozen=True)
class TuneResult:
    """Outcome of a (possibly resumed) search."""

    study: str  # study name
    storage: str  # where the study is stored (password hidden)
    backend: str
    metric: str
    direction: str  # "maximize" | "minimize"
    n_trials: int  # finished trials in the study (complete + pruned)
    n_complete: int
    n_pruned: int
    n_new: int  # trials run by this call
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    default_value: float | None  # the first (default-configuration) trial's value
    best_model_dir: str | None
    registered: dict[str, Any] | None = None  # {"name", "version"} when registered
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"study {self.study!r} ({self.storage}, backend {self.backend}): "
            f"{self.n_trials} trials ({self.n_complete} complete, {self.n_pruned} pruned, "
            f"{self.n_new} new)",
            f"best: trial {self.best_trial}, dev {self.metric} {self.best_value:.4f}"
            + (
                f" (default configuration: {self.default_value:.4f})"
                if self.default_value is not None
                else ""
            ),
            "  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in self.best_params.items()),
        ]  # fmt: skip
        if self.best_model_dir:
            lines.append(f"  model dir: {self.best_model_dir}")
        if self.registered:
            lines.append(f"  registered as {self.registered['name']} v{self.registered['version']}")
        return "\n".join(lines)


def _masked(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # pragma: no cover - not a URL sqlalchemy knows
        return url


def _metric_and_direction(data: Any, target: str, task: str | None, metric: str | None):
    from bizmodel.finetune.data import check_columns, data_name, infer_task, read_table
    from bizmodel.finetune.metrics import HIGHER_IS_BETTER

    if metric is None:
        if task is None:
            df = read_table(data)
            check_columns(df, [target], data_name(data))
            task = infer_task(df[target])
        metric = "pearson" if task == "regression" else "macro_f1"
    return metric, ("maximize" if metric in HIGHER_IS_BETTER else "minimize")


def _finished(study: Any) -> list[Any]:
    states = _optuna().trial.TrialState
    return [t for t in study.trials if t.state in (states.COMPLETE, states.PRUNED)]


def tune(
    data: str | Path,
    *,
    text: str,
    target: str,
    trials: int,
    text_pair: str | None = None,
    task: str | None = None,
    dev: str | Path | None = None,
    split_column: str | None = None,
    space: SearchSpace | None = None,
    metric: str | None = None,
    pruner: str = "median",
    backend: str = "local",
    workers: int = 2,
    address: str | None = None,
    study: str | None = None,
    storage: str | None = None,
    workdir: str | Path | None = None,
    register_as: str | None = None,
    registry_dir: str | Path | None = None,
    seed: int = 0,
    **options: Any,
) -> TuneResult:
    """Search hyper-parameters of :func:`bizmodel.finetune.train` on ``data``'s dev metric.

    Parameters
    ----------
    data : str or Path
        Training file (as for ``bizmodel train``).
    text, target, text_pair, task, dev, split_column
        As in :func:`bizmodel.finetune.train`.
    trials : int
        Finished trials the study should hold; a resumed study runs only the missing ones.
    space : SearchSpace, optional
        Methods, epochs, batch sizes and learning rates to search.
    metric : str, optional
        Dev metric to optimise; default pearson (regression) or macro_f1 (classification).
    pruner : {"median", "hyperband", "none"}
        Early stopping of trials on their per-epoch dev metric.
    backend : {"local", "ray"}
        Run trials one after another here, or ``workers`` at a time on Ray Tune.
    workers : int
        Concurrent trials with the Ray backend (one CPU each).
    address : str, optional
        Ray cluster to join (Ray backend); default a local one.
    study : str, optional
        Study name; default ``tune-<data stem>-<target>``. Same name = resume.
    storage : str, optional
        Optuna storage URL; default derived from the project database
        (:func:`study_storage_url` of ``Settings.resolved_database_url()``).
    workdir : path, optional
        Where trial model dirs go (default ``<project>/tune/<study>``); only the best is
        kept. With a multi-machine Ray cluster, a folder every node can write.
    register_as : str, optional
        Register the best model dir in the registry under this name.
    registry_dir : path, optional
        Registry folder (default: the project's).
    seed : int
        Training seed of every trial and seed of the TPE sampler.
    **options
        Fixed :class:`~bizmodel.finetune.config.TrainConfig` fields for every trial
        (``max_length``, ``num_threads``, ...).

    Returns
    -------
    TuneResult

    Notes
    -----
    With an MLflow tracking URI configured (``[tracking] mlflow_uri`` or
    ``MLFLOW_TRACKING_URI``), the study is mirrored after the search: a parent run for the
    study and a nested run per finished trial (hyper-parameters as params, ``dev_<metric>``,
    per-epoch ``epoch_dev_<metric>``); see :func:`bizmodel.tracking.mlflow.log_study`.
    """
    from bizmodel.config import Settings

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if pruner not in PRUNERS:
        raise ConfigError(f"pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be an integer >= 1, got {trials!r}")
    space = space or SearchSpace()
    optuna = _optuna()
    settings = Settings.load()
    mlflow_uri = settings.tracking.mlflow_uri
    if mlflow_uri:  # fail before hours of search, not after
        from bizmodel.tracking.mlflow import check_installed

        check_installed()
    metric, direction = _metric_and_direction(data, target, task, metric)
    study_name = study or f"tune-{Path(data).stem}-{target}"
    storage_url = storage or study_storage_url(settings.resolved_database_url())
    workdir = Path(workdir or settings.project_dir / "tune" / study_name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rdb = _open_storage(storage_url)
    try:
        ostudy = optuna.create_study(
            study_name=study_name,
            storage=rdb,
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=_pruner(pruner),
            load_if_exists=True,
        )
        if ostudy.direction.name.lower() != direction:
            raise ConfigError(
                f"study {study_name!r} optimises in direction {ostudy.direction.name.lower()}, "
                f"not {direction} ({metric}); give another --study name"
            )
        if not ostudy.trials:
            ostudy.enqueue_trial(space.default_params())
        missing = trials - len(_finished(ostudy))
        fixed = {
            "text": text,
            "target": target,
            "text_pair": text_pair,
            "task": task,
            "dev": dev,
            "split_column": split_column,
            "seed": seed,
            "show_progress": False,
            **options,
        }
        if missing > 0:
            if backend == "local":
                _run_local(ostudy, data, fixed, space, metric, missing, workdir)
            else:
                _run_ray(
                    ostudy, rdb, data, fixed, space, metric, direction, pruner, missing, workdir,
                    workers=workers, address=address, seed=seed,
                )  # fmt: skip
        ostudy = optuna.load_study(study_name=study_name, storage=rdb)
        if mlflow_uri:
            from bizmodel.tracking.mlflow import log_study

            log_study(
                study_name, [_trial_record(t) for t in _finished(ostudy)], uri=mlflow_uri,
                metric=metric, direction=direction, experiment=settings.tracking.mlflow_experiment,
            )  # fmt: skip
        return _result(
            ostudy, backend, metric, direction, max(missing, 0), storage_url, register_as,
            registry_dir or settings.resolved_registry_dir(),
        )  # fmt: skip
    finally:
        rdb.engine.dispose()  # no pooled connection outlives the call


def _trial_record(t: Any) -> dict[str, Any]:
    """A finished Optuna trial as :func:`bizmodel.tracking.mlflow.log_study` takes it."""
    model_dir = t.user_attrs.get("model_dir")
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": t.value,
        "params": dict(t.params),
        "intermediate": dict(t.intermediate_values),
        "model_dir": model_dir if model_dir and Path(model_dir).is_dir() else None,
    }


def _pruner(kind: str) -> Any:
    optuna = _optuna()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def _train_trial(data: Any, fixed: dict[str, Any], params: dict[str, Any], out: Path, report):
    """Train one trial's configuration into ``out``; ``report(epoch, dev_metrics)`` per epoch."""
    from bizmodel.finetune import train

    return train(data, output=out, **fixed, **params, on_epoch=report)


def _run_local(study, data, fixed, space, metric, n, workdir: Path) -> None:
    optuna = _optuna()

    def objective(trial: Any) -> float:
        params = suggest(trial, space)
        out = workdir / f"trial-{trial.number}"

        def report(epoch: int, dev_metrics: dict[str, float]) -> None:
            value = float(dev_metrics[metric])
            if math.isfinite(value):
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        try:
            result = _train_trial(data, fixed, params, out, report)
        except optuna.TrialPruned:
            _remove(out)
            raise
        trial.set_user_attr("model_dir", str(out))
        return float(result.dev_metrics[metric])

    study.optimize(objective, n_trials=n, callbacks=[_keep_best_only], gc_after_trial=True)


def _keep_best_only(study: Any, trial: Any) -> None:
    """Delete model dirs of finished trials that are not the study's best."""
    try:
        best = study.best_trial.number
    except ValueError:  # no complete trial yet
        best = None
    for t in study.trials:
        path = t.user_attrs.get("model_dir")
        if path and t.number != best and t.state.is_finished():
            _remove(Path(path))


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(path.parent / f".{path.name}.checkpoints", ignore_errors=True)


def _define_by_run(trial: Any, space: SearchSpace) -> None:
    suggest(trial, space)  # Ray's searcher takes the trial's params as the config


def _run_ray(
    study, rdb, data, fixed, space, metric, direction, pruner, n, workdir: Path, *,
    workers: int, address: str | None, seed: int,
) -> None:  # fmt: skip
    import tempfile
    import uuid

    from bizmodel.scale import ray_session, require

    optuna = _optuna()
    require("ray.tune")
    data = str(Path(data).resolve())
    if fixed.get("dev") is not None:
        fixed = {**fixed, "dev": str(Path(fixed["dev"]).resolve())}
    fixed = {"num_threads": 1, **fixed}
    mode = "max" if direction == "maximize" else "min"

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune as rtune

        out = workdir / f"trial-{uuid.uuid4().hex[:10]}"

        def report(epoch: int, dev_metrics: dict[str, float]) -> None:
            value = float(dev_metrics[metric])
            if math.isfinite(value):
                rtune.report({"value": value})

        params = {k: config[k] for k in config}
        result = _train_trial(data, fixed, params, out, report)
        value = float(result.dev_metrics[metric])
        rtune.report({"value": value, "model_dir": str(out)})

    storage_dir = tempfile.mkdtemp(prefix="bizmodel-ray-tune-")
    try:
        with ray_session(address, num_cpus=None if address else workers):
            from ray import tune as rtune
            from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

            from bizmodel.scale._ray_search import PruningOptunaSearch

            # The enqueued default configuration (new study) becomes the searcher's first
            # suggestion: Ray's Optuna searcher asks the same study.
            searcher = PruningOptunaSearch(
                space=functools.partial(_define_by_run, space=space),
                metric="value",
                mode=mode,
                sampler=optuna.samplers.TPESampler(seed=seed),
                study_name=study.study_name,
                storage=rdb,
            )
            if pruner == "median":
                scheduler: Any = MedianStoppingRule(
                    metric="value", mode=mode, min_samples_required=2, grace_period=1
                )
            elif pruner == "hyperband":
                scheduler = ASHAScheduler(
                    metric="value", mode=mode, max_t=space.max_epochs + 1, grace_period=1
                )
            else:
                scheduler = FIFOScheduler()
            tuner = rtune.Tuner(
                rtune.with_resources(trainable, {"cpu": 1}),
                tune_config=rtune.TuneConfig(
                    search_alg=searcher,
                    scheduler=scheduler,
                    num_samples=n,
                    max_concurrent_trials=workers,
                ),
                run_config=rtune.RunConfig(storage_path=storage_dir, verbose=0),
            )
            tuner.fit()
    finally:
        shutil.rmtree(storage_dir, ignore_errors=True)
    done = _optuna().load_study(study_name=study.study_name, storage=rdb)
    _keep_best_only(done, None)
    keep = {t.user_attrs.get("model_dir") for t in done.trials}
    for path in workdir.glob(".trial-*.checkpoints"):  # trials stopped mid-epoch by Ray
        shutil.rmtree(path, ignore_errors=True)
    for path in workdir.glob("trial-*"):
        if str(path) not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _result(study, backend, metric, direction, n_new, storage_url, register_as, registry_dir):
    states = _optuna().trial.TrialState
    finished = _finished(study)
    complete = [t for t in finished if t.state == states.COMPLETE and t.value is not None]
    if not complete:
        raise ConfigError(
            f"study {study.study_name!r} has no completed trial yet (all pruned or failed)"
        )
    best = study.best_trial
    first = min(study.trials, key=lambda t: t.number)
    model_dir = best.user_attrs.get("model_dir")
    if model_dir and not Path(model_dir).is_dir():
        model_dir = None
    registered = None
    if register_as:
        if model_dir is None:
            raise ConfigError(
                f"the best trial's model dir is gone; cannot register {register_as!r}"
            )
        from bizmodel.registry import Registry

        mv = Registry(registry_dir).register(model_dir, register_as)
        registered = {"name": mv.name, "version": mv.version, "path": str(mv.path)}
    return TuneResult(
        study=study.study_name,
        storage=_masked(storage_url),
        backend=backend,
        metric=metric,
        direction=direction,
        n_trials=len(finished),
        n_complete=len(complete),
        n_pruned=sum(t.state == states.PRUNED for t in finished),
        n_new=n_new,
        best_value=float(best.value),
        best_params=dict(best.params),
        best_trial=best.number,
        default_value=float(first.value)
        if first.state == states.COMPLETE and first.value is not None
        else None,
        best_model_dir=model_dir,
        registered=registered,
        trials=[
            {"number": t.number, "state": t.state.name.lower(), "value": t.value, **t.params}
            for t in study.trials
        ],
    )
