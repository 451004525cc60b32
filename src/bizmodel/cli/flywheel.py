"""``bizmodel demo``: the whole flywheel on a simulated market and the packaged model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bizmodel.cli.output import emit


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
    app.command("flywheel")(demo)
