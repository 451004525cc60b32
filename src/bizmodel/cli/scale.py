"""CLI command for hyper-parameter search: ``bizmodel tune``.

``train --backend ray`` and ``predict --backend ray`` live with the other fine-tuning
commands (:mod:`bizmodel.cli.finetune`), ``serve --replicas`` with serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.finetune import AddressOpt, BackendOpt, DeviceOpt, WorkersOpt
from bizmodel.cli.output import emit


def tune(
    data: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file with the rows.")],
    text: Annotated[str, typer.Option(help="Column with the (first) input text.")],
    target: Annotated[str, typer.Option(help="Column with the value or label to predict.")],
    trials: Annotated[int, typer.Option(help="Finished trials the study should hold.")],
    text_pair: Annotated[str | None, typer.Option(help="Column with a second text.")] = None,
    task: Annotated[str | None, typer.Option(help="regression | classification.")] = None,
    dev: Annotated[Path | None, typer.Option(help="Dev file (the metric is on it).")] = None,
    split_column: Annotated[
        str | None, typer.Option(help="Column with train/dev/test split values.")
    ] = None,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods to search; the first is the default.")
    ] = "full,lora,adalora",
    max_epochs: Annotated[int, typer.Option(help="Epochs are searched in 1..max.")] = 4,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "8,16,32",
    max_length: Annotated[int | None, typer.Option(help="Tokens per row (fixed).")] = None,
    metric: Annotated[
        str | None, typer.Option(help="Dev metric (default pearson / macro_f1).")
    ] = None,
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    study: Annotated[
        str | None, typer.Option(help="Study name (same name resumes; default from DATA).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna storage URL (default: beside the project database)."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Trial model dirs (default project/tune/STUDY).")
    ] = None,
    register: Annotated[
        str | None, typer.Option(help="Register the best model under this name.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Training seed and TPE sampler seed.")] = 0,
    threads: Annotated[int | None, typer.Option(help="Torch threads per trial.")] = None,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "local",
    workers: WorkersOpt = 2,
    address: AddressOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Search learning rate, epochs, batch size, method and LoRA settings with Optuna.

    TPE sampling, median/hyperband pruning on the per-epoch dev metric, the study stored in a
    database (running the command again resumes it), the best model dir kept (and registered
    with --register). --backend ray runs --workers trials at a time on Ray Tune.
    """
    from bizmodel.errors import ConfigError
    from bizmodel.scale.tune import SearchSpace
    from bizmodel.scale.tune import tune as tune_fn

    try:
        sizes = tuple(int(b) for b in batch_sizes.split(",") if b.strip())
    except ValueError:
        raise ConfigError(
            f"--batch-sizes must be integers separated by commas, got {batch_sizes!r}"
        ) from None
    space = SearchSpace(
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        max_epochs=max_epochs,
        batch_sizes=sizes,
    )
    options: dict[str, Any] = {"max_length": max_length, "num_threads": threads, "device": device}
    result = tune_fn(
        data, text=text, target=target, trials=trials, text_pair=text_pair, task=task, dev=dev,
        split_column=split_column, space=space, metric=metric, pruner=pruner, backend=backend,
        workers=workers, address=address, study=study, storage=storage, workdir=workdir,
        register_as=register, seed=seed, **{k: v for k, v in options.items() if v is not None},
    )  # fmt: skip
    emit(result, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("tune")(tune)
