"""CLI commands for the registry and serving: register, models, promote, serve, events export.

Each command calls one library function; heavy imports happen inside the commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli import event_import
from bizmodel.cli.output import emit
from bizmodel.cli.project import ProjectOpt

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
RegistryOpt = Annotated[
    Path | None, typer.Option("--registry", help="Registry folder (default: project/registry).")
]


@dataclass(frozen=True)
class ModelList:
    """The newest version of every registered model."""

    models: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models]}

    def summary(self) -> str:
        if not self.models:
            return "No models registered (bizmodel register DIR --name NAME)."
        lines = [f"{'name':<24} {'latest':>6}  stages"]
        for m in self.models:
            lines.append(f"{m.name:<24} {m.version:>6}  {', '.join(m.stages) or '-'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows}

    def summary(self) -> str:
        return f"{self.rows} events written to {self.path}"


def _registry(registry: Path | None, project: Path | None = None) -> Any:
    from bizmodel.config import Settings
    from bizmodel.registry import Registry

    return Registry(registry or Settings.load(project).resolved_registry_dir())


def _held_out(
    model_dir: Path, sample: Path
) -> tuple[list[str], list[str] | None, list[Any] | None]:
    """(texts, pairs, targets) of at most 512 rows of ``sample`` in the model's columns;
    targets are None when the file has no target column (the int8 check then compares
    outputs only)."""
    from bizmodel.errors import DataError
    from bizmodel.finetune.artifacts import read_info
    from bizmodel.finetune.data import check_columns, column_texts, label_strings, read_table

    info = read_info(model_dir)
    cols = info.get("columns") or {}
    text, pair, target = cols.get("text"), cols.get("text_pair"), cols.get("target")
    df = read_table(sample).head(512)
    check_columns(df, [text, pair], str(sample))
    texts = column_texts(df, str(text), str(sample))
    pairs = column_texts(df, str(pair), str(sample)) if pair else None
    targets: list[Any] | None = None
    if target and target in df.columns:
        if info.get("task") == "classification":
            targets = list(label_strings(df[target], str(target), str(sample)))
        else:
            import pandas as pd

            values = pd.to_numeric(df[target], errors="coerce")
            if values.isna().any():
                row = int(values.isna().to_numpy().argmax())
                raise DataError(
                    f"row {row + 1}, column {target!r}: expected a number for the int8 "
                    f"check, got {df[target].iloc[row]!r}",
                    file=str(sample),
                )
            targets = values.astype(float).tolist()
    return texts, pairs, targets


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    models = typer.Typer(help="List and inspect registered models.", no_args_is_help=True)
    events = typer.Typer(help="Read business events back from the store.", no_args_is_help=True)
    app.add_typer(models, name="models")
    app.add_typer(events, name="events")
    event_import.register(events)  # events import

    @app.command("register")
    def register_cmd(
        model_dir: Annotated[
            str,
            typer.Argument(
                help="Model folder from bizmodel train, or an MLflow URI (models:/NAME/VERSION, "
                "models:/NAME@alias, runs:/RUN_ID/model) with [tracking] mlflow_uri set."
            ),
        ],
        name: Annotated[str, typer.Option("--name", help="Registered model name.")],
        registry: RegistryOpt = None,
        project: ProjectOpt = None,
        measure: Annotated[
            bool, typer.Option(help="Measure inference cost (ms, CPU-s per 1k predictions).")
        ] = True,
        runtime: Annotated[str, typer.Option(help="Runtime to measure: torch, onnx.")] = "torch",
        device: Annotated[
            str,
            typer.Option(
                help="Measure on: auto (cuda if available, else mps, else cpu), cpu, cuda, "
                "cuda:N or mps; the cost records it (and the GPU's name)."
            ),
        ] = "auto",
        int8_check: Annotated[
            bool,
            typer.Option(
                help="With --measure: measure how far ONNX int8 outputs are from fp32 "
                "(serving 'auto' uses int8 only within tolerance)."
            ),
        ] = True,
        sample: Annotated[
            Path | None,
            typer.Option(
                help="Held-out rows (CSV/Parquet/JSONL with the model's text columns) for the "
                "int8 check; with the target column too, the 95% upper bound of int8's task-"
                "metric loss (Pearson / macro-F1; paired bootstrap) must be <= 0.005. "
                "Default: synthetic headlines."
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Register MODEL_DIR as the next version of NAME (copied atomically).

        With an MLflow tracking URI configured, the version is mirrored into MLflow's Model
        Registry too (cost and quality as tags, stages as aliases).
        """
        import tempfile

        from bizmodel.config import Settings
        from bizmodel.inference.cost import fixed_inference_cost, measure_model_dir

        settings = Settings.load(project)
        given = settings.server.inference_cost_cpu_s_per_1k
        tracking = settings.tracking

        def measure_fn(path: Path) -> dict[str, Any]:
            if given is not None:
                return fixed_inference_cost(given, source="[server] inference_cost_cpu_s_per_1k")
            if sample is None:
                return measure_model_dir(path, runtime=runtime, int8=int8_check, device=device)
            texts, pairs, targets = _held_out(path, sample)
            return measure_model_dir(
                path,
                runtime=runtime,
                int8=int8_check,
                sample=(texts, pairs),
                sample_targets=targets,
                device=device,
            )

        with tempfile.TemporaryDirectory(prefix="bizmodel-mlflow-") as tmp:
            src = Path(model_dir)
            if str(model_dir).startswith(("models:/", "runs:/")):
                from bizmodel.tracking.mlflow import download_model

                src = download_model(model_dir, tmp, uri=tracking.mlflow_uri)
            mv = _registry(registry, project).register(
                src, name, measure=measure_fn if measure else None
            )
        if tracking.mlflow_uri:
            from bizmodel.tracking.mlflow import mirror_registration

            mirror_registration(mv, uri=tracking.mlflow_uri, experiment=tracking.mlflow_experiment)
        emit(mv, as_json)

    @models.command("list")
    def list_cmd(
        registry: RegistryOpt = None, project: ProjectOpt = None, as_json: JsonOpt = False
    ) -> None:
        """List registered models with their newest version and stages."""
        emit(ModelList(_registry(registry, project).list_models()), as_json)

    @models.command("show")
    def show_cmd(
        name: str,
        version: Annotated[
            str | None, typer.Option(help="Version number, stage or 'latest'.")
        ] = None,
        registry: RegistryOpt = None,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Show one version (default: production, else the newest): metrics and costs."""
        emit(_registry(registry, project).get(name, version), as_json)

    @app.command("promote")
    def promote_cmd(
        name: str,
        version: int,
        stage: Annotated[str, typer.Option(help="production or staging.")] = "production",
        registry: RegistryOpt = None,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Point STAGE of NAME at VERSION (an atomic alias switch; mirrored as an MLflow alias
        when a tracking URI is configured)."""
        from bizmodel.config import Settings

        mv = _registry(registry, project).promote(name, version, stage)
        uri = Settings.load(project).tracking.mlflow_uri
        if uri:
            from bizmodel.tracking.mlflow import mlflow_version_of, set_alias

            mirrored = mlflow_version_of(name, version, uri=uri)
            if mirrored is not None:
                set_alias(name, stage, mirrored, uri=uri)
        emit(mv, as_json)

    @app.command("serve")
    def serve_cmd(
        registry: RegistryOpt = None,
        project: ProjectOpt = None,
        host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
        port: Annotated[int | None, typer.Option(help="Port.")] = None,
        model: Annotated[str | None, typer.Option(help="Model name to serve.")] = None,
        runtime: Annotated[str | None, typer.Option(help="auto, torch, onnx or onnx-int8.")] = None,
        device: Annotated[
            str | None,
            typer.Option(help="auto, cpu, cuda, cuda:N or mps (default server.device: auto)."),
        ] = None,
        replicas: Annotated[
            int | None,
            typer.Option(
                help="Worker processes behind the port (default server.replicas); with "
                "--backend ray, exactly N Ray Serve replicas (no autoscaling)."
            ),
        ] = None,
        backend: Annotated[
            str, typer.Option(help="local (uvicorn on this machine) or ray (Ray Serve).")
        ] = "local",
        address: Annotated[
            str | None,
            typer.Option(
                help="--backend ray: cluster to join (auto, HOST:6379); else a local one."
            ),
        ] = None,
        min_replicas: Annotated[
            int, typer.Option(help="--backend ray: fewest replicas, however idle.")
        ] = 1,
        max_replicas: Annotated[
            int, typer.Option(help="--backend ray: most replicas, however busy.")
        ] = 4,
        target_ongoing_requests: Annotated[
            float,
            typer.Option(
                help="--backend ray: requests in flight per replica the autoscaler aims at."
            ),
        ] = 16.0,
        replica_cpus: Annotated[
            float,
            typer.Option(help="--backend ray: CPUs each replica reserves (its inference threads)."),
        ] = 1.0,
        dashboard: Annotated[
            bool, typer.Option(help="Also serve the web app under /app/ (server.dashboard).")
        ] = False,
    ) -> None:
        """Serve predictions, feedback, events and A/B assignment over HTTP.

        With --replicas N, N uvicorn worker processes share the port and the database (use
        PostgreSQL as the store for more than one). With --backend ray, the same app runs as
        Ray Serve replicas that scale with load (docs/scale-out.md).
        """
        from bizmodel.config import Settings
        from bizmodel.errors import ConfigError
        from bizmodel.server.run import serve

        settings = Settings.load(project, registry_dir=registry)
        server_opts: dict[str, object] = {"model_name": model, "runtime": runtime}
        server_opts.update(device=device, dashboard=True if dashboard else None)
        changes = {k: v for k, v in server_opts.items() if v is not None}
        if changes:
            merged = {**settings.server.model_dump(), **changes}
            settings = Settings.load(project, registry_dir=registry, server=merged)
        if backend == "local":
            serve(settings, host=host, port=port, replicas=replicas)
            return
        if backend != "ray":
            raise ConfigError(f"--backend must be local or ray, got {backend!r}")
        from bizmodel.scale.serve import ReplicaScaling, serve_ray

        if replicas is not None:
            scaling = ReplicaScaling.fixed(replicas, num_cpus=replica_cpus)
        else:
            scaling = ReplicaScaling(
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                target_ongoing_requests=target_ongoing_requests,
                num_cpus=replica_cpus,
            )
        serve_ray(
            settings,
            scaling,
            address=address,
            host=host,
            port=port,
            on_ready=lambda d: typer.echo(f"{d.summary()} (Ctrl-C stops it)", err=True),
        )

    @events.command("export")
    def export_cmd(
        out: Annotated[Path, typer.Argument(help="OUT.csv or OUT.parquet")],
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Write every stored business event to a CSV or Parquet file."""
        from bizmodel.config import Settings
        from bizmodel.store import EventStore

        store = EventStore.open(Settings.load(project).resolved_database_url())
        try:
            emit(ExportResult(str(out), store.export_events(out)), as_json)
        finally:
            store.close()
