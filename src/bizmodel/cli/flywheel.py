"""``bizmodel demo``: the whole flywheel on a simulated market and the packaged model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bizmodel.cli.output import emit
from bizmodel.cli.project import ProjectOpt


def demo(
    output: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "demo-output"
    ),
    days: Annotated[int, typer.Option(min=3, help="Days of simulated market traffic.")] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the market simulation.")] = 0,
    rows: Annotated[int, typer.Option(min=20, help="Generated headlines to train on.")] = 400,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 3,
    model_dir: Annotated[
        Path | None, typer.Option(help="Serve this trained model dir instead of training one.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train → register → serve → simulated users → store → monitor → fit → optimise → report."""
    from rich.console import Console

    from bizmodel.flywheel import run_flywheel

    console = Console(stderr=True)
    result = run_flywheel(
        output,
        days=days,
        seed=seed,
        model_dir=model_dir,
        train_rows=rows,
        epochs=epochs,
        show_progress=progress,
        progress=(lambda msg: console.print(f"[bold cyan]{msg}")) if progress else None,
    )
    emit(result, as_json)
    if not as_json:
        typer.echo(
            f"\nOpen {result.report} in a browser, or watch the live dashboard with\n"
            f"  bizmodel dashboard --project {result.output}"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("demo")(demo)
    app.command("retrain")(retrain)


def retrain(
    name: Annotated[
        str, typer.Argument(help="Registered model; its production version is the champion.")
    ],
    holdout: Annotated[Path, typer.Argument(help="Held-out labelled rows (CSV/JSONL/Parquet).")],
    project: ProjectOpt = None,
    challenger: Annotated[
        Path | None, typer.Option(help="A trained challenger dir (skips trigger and training).")
    ] = None,
    train_data: Annotated[
        Path | None, typer.Option("--train", help="Base training rows; feedback is added.")
    ] = None,
    metric: Annotated[str, typer.Option(help="Offline metric / online outcome: mae, mse.")] = "mae",
    max_robustness_drop: Annotated[
        float | None,
        typer.Option(help="Gate: keep the champion if a perturbation worsens the metric more."),
    ] = None,
    fairness_segment: Annotated[
        str | None, typer.Option(help="Gate: audit the challenger by this holdout column.")
    ] = None,
    max_disparity: Annotated[
        float | None,
        typer.Option(help="Gate: keep the champion if a segment is worse by more (CI-based)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fine-tune a challenger on new feedback, test it offline and online, promote if it wins.

    With the gate options, a winning challenger is still kept out when it is brittle or unfair
    (the checks are stored with its registered version).
    """
    from bizmodel.config import Settings
    from bizmodel.flywheel.retrain import retrain as run_retrain
    from bizmodel.tables import read_table

    result = run_retrain(
        Settings.load(project),
        name,
        read_table(holdout),
        train_data=read_table(train_data) if train_data is not None else None,
        challenger_dir=challenger,
        metric=metric,
        max_robustness_drop=max_robustness_drop,
        fairness_segment=fairness_segment,
        max_disparity=max_disparity,
    )
    emit(result, as_json)
