"""CLI commands for fine-tuning: ``train``, ``evaluate``, ``predict`` and ``demo``.

Each command calls one function of :mod:`bizmodel.finetune` and prints its result; heavy
libraries load inside the call, so ``bizmodel --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit
from bizmodel.cli.project import ProjectOpt

_JSON = typer.Option("--json", help="Print one JSON object instead of a text summary.")
BackendOpt = Annotated[
    str, typer.Option(help="local, or ray (needs `pip install 'bizmodel[ray]'`).")
]
WorkersOpt = Annotated[int, typer.Option(help="Ray workers (one CPU each); --backend ray.")]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join (host:6379, ray://host:10001, auto); default local."),
]
DeviceOpt = Annotated[
    str,
    typer.Option(help="auto (cuda if available, else mps, else cpu), cpu, cuda, cuda:N or mps."),
]


def _check_backend(backend: str) -> None:
    from bizmodel.errors import ConfigError

    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend must be local or ray, got {backend!r}")


def train(
    data: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file with the rows.")],
    text: Annotated[str, typer.Option(help="Column with the (first) input text.")],
    target: Annotated[str, typer.Option(help="Column with the value or label to predict.")],
    output: Annotated[Path, typer.Option(help="Model dir to write (atomically).")],
    text_pair: Annotated[
        str | None, typer.Option(help="Column with a second text (e.g. the headline).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="regression | classification (default: inferred from the target)."),
    ] = None,
    method: Annotated[
        str, typer.Option(help="full | lora | adalora | frozen (or another registered method).")
    ] = "full",
    dev: Annotated[
        Path | None,
        typer.Option(help="Dev file for early stopping (default: none, see --schedule)."),
    ] = None,
    split_column: Annotated[
        str | None, typer.Option(help="Column with train/dev/test split values.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Base model: 'packaged' (all-MiniLM-L6-v2), a folder or a hub id.")
    ] = "packaged",
    epochs: Annotated[
        int | None,
        typer.Option(help="Most epochs (default 6): early stopping on dev rows, else --schedule."),
    ] = None,
    schedule: Annotated[
        str,
        typer.Option(
            help="Without dev rows: cv (k-fold CV on the training rows picks the epoch count, "
            "then one model trains on all rows), holdout (a seeded 10% dev split with early "
            "stopping, not trained on) or fixed (all rows, --epochs epochs)."
        ),
    ] = "cv",
    cv_folds: Annotated[
        int | None,
        typer.Option(help="Folds of --schedule cv (default: 5 to 2,000 rows, 3 to 20k, else 1)."),
    ] = None,
    freeze_layers: Annotated[
        int,
        typer.Option(
            help="Full fine-tuning: also fix the embeddings and the lowest N transformer blocks "
            "(faster steps, usually a lower metric; see docs/benchmarks.md)."
        ),
    ] = 0,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (default: the method's).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per row after truncation.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of init, dropout, order and dev split.")] = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: idle CPUs).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    augment: Annotated[
        int, typer.Option(help="Add N perturbed copies of each training row (typos, casing...).")
    ] = 0,
    soup: Annotated[
        int,
        typer.Option(
            help="Average the weights of N fine-tunes that differ only in batch order and "
            "dropout (a model soup: one model, N times the training time; full fine-tuning's "
            "default lr is then 1e-4)."
        ),
    ] = 1,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "local",
    workers: WorkersOpt = 2,
    address: AddressOpt = None,
    logdir: Annotated[
        Path | None,
        typer.Option(
            help="Write TensorBoard curves (loss, lr, samples/s, dev metrics) here "
            "(default: [tracking] logdir/OUTPUT-NAME when set)."
        ),
    ] = None,
    project: ProjectOpt = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Fine-tune a pre-trained transformer on DATA and write a model dir.

    With --backend ray, --workers data-parallel Ray Train workers share each epoch (the
    effective batch is workers x batch size); the model dir is the same as a local run's.
    With an MLflow tracking URI configured ([tracking] mlflow_uri or MLFLOW_TRACKING_URI) the
    run is logged to MLflow too.
    """
    from bizmodel.finetune import make_config
    from bizmodel.finetune import train as train_fn

    _check_backend(backend)
    # the run's settings, the same on both backends
    options: dict[str, Any] = dict(
        text=text, target=target, text_pair=text_pair, task=task, method=method, model=model,
        epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length, seed=seed,
        num_threads=threads, augment=augment, schedule=schedule, cv_folds=cv_folds,
        device=device, freeze_layers=freeze_layers,
    )  # fmt: skip
    if backend == "ray":
        from bizmodel.errors import ConfigError
        from bizmodel.scale.train import train_ray

        if resume:
            raise ConfigError("--resume is not supported with --backend ray")
        if soup > 1:
            raise ConfigError("--soup is not supported with --backend ray; valid: --soup 1")
        config = make_config(**options)
        emit(
            train_ray(
                data, config, output, workers=workers, dev=dev, split_column=split_column,
                address=address,
            ),
            as_json,
        )  # fmt: skip
        return
    from bizmodel.config import Settings

    tracking = Settings.load(project).tracking
    tb_dir = logdir or (tracking.logdir / output.name if tracking.logdir else None)
    tb = None
    if tb_dir is not None:
        from bizmodel.finetune.config import TrainConfig
        from bizmodel.tracking.tensorboard import TensorBoardLogger

        tb = TensorBoardLogger(tb_dir, batch_size=batch_size or TrainConfig.batch_size)
    try:
        result = train_fn(
            data, output=output, dev=dev, split_column=split_column, resume=resume,
            show_progress=progress, soup=soup, **options,
            on_step=tb.on_step if tb else None, on_epoch=tb.on_epoch if tb else None,
        )  # fmt: skip
        if tb is not None:
            tb.log_history(list(result.history))
    finally:
        if tb is not None:
            tb.close()
    if tracking.mlflow_uri:
        from bizmodel.tracking.mlflow import track_training

        track_training(output, uri=tracking.mlflow_uri, experiment=tracking.mlflow_experiment)
    emit(result, as_json)


def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A model dir written by `bizmodel train`.")],
    data: Annotated[Path, typer.Argument(help="Labelled CSV/TSV/JSONL/Parquet file.")],
    split_column: Annotated[
        str | None, typer.Option(help="Column with train/dev/test split values.")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Split to score with --split-column (default: test).")
    ] = None,
    device: DeviceOpt = "auto",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Score a trained model on labelled data (metric names as JSON keys with --json)."""
    from bizmodel.finetune import evaluate as evaluate_fn

    result = evaluate_fn(model_dir, data, split_column=split_column, split=split, device=device)
    emit(result, as_json)


def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model dir written by `bizmodel train`.")],
    data: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file with the texts.")],
    output: Annotated[
        Path, typer.Option(help="File to write, format by extension; adds `prediction`.")
    ],
    backend: BackendOpt = "local",
    workers: WorkersOpt = 2,
    address: AddressOpt = None,
    runtime: Annotated[
        str,
        typer.Option(
            help="torch (default), onnx (fp32, same outputs, faster), onnx-int8 (fastest, "
            "lossy) or auto (as serve chooses); ONNX graphs are cached in MODEL_DIR/onnx."
        ),
    ] = "torch",
    device: DeviceOpt = "auto",
) -> None:
    """Add a `prediction` column (and `prob_<label>` for classification) to DATA.

    With --backend ray, Ray Data scores the rows on --workers actors that load the model once
    each; the output file is the same as a local run's.
    """
    from bizmodel.finetune import predict_file

    _check_backend(backend)
    if backend == "ray":
        if runtime != "torch":
            from bizmodel.errors import ConfigError

            raise ConfigError(f"--runtime {runtime} needs --backend local; Ray runs torch")
        from bizmodel.scale.predict import predict_file_ray

        path = predict_file_ray(model_dir, data, output, address=address, workers=workers)
        typer.echo(f"wrote {path}")
        return
    path = predict_file(model_dir, data, output, runtime=runtime, device=device)
    typer.echo(f"wrote {path}")


def demo(
    output: Annotated[Path, typer.Option(help="Folder for the sample data and the model.")] = Path(
        "demo-output"
    ),
    rows: Annotated[int, typer.Option(help="Generated sample headlines.")] = 400,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: idle CPUs).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Generate sample financial headlines, fine-tune the packaged MiniLM, print metrics.

    The training step of `bizmodel demo`, on its own.
    """
    from bizmodel.finetune.demo import run_demo

    result = run_demo(output, rows=rows, epochs=epochs, show_progress=progress, num_threads=threads)
    emit(result, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)
    app.command("train-demo")(demo)
