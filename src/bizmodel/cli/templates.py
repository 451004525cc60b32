"""``bizmodel new`` and ``bizmodel run``: application templates as working projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bizmodel.cli.output import emit


def new(
    template: Annotated[str, typer.Argument(help="advisor | health | education")],
    directory: Annotated[Path, typer.Argument(help="New project folder (must not exist).")],
    seed: Annotated[int, typer.Option(help="Seed of the generated sample data.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a template project: bizmodel.toml, business spec, sample data and a README."""
    from bizmodel.templates import new_project

    emit(new_project(template, directory, seed=seed), as_json)


def run(
    directory: Annotated[Path, typer.Argument(help="Project folder (bizmodel.toml).")] = Path("."),
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="KEY=VALUE overriding [project.options]; repeatable."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run a project end to end through the one flywheel. A template project: train →
    register → serve → users → monitor → experiments → fit → optimise → report. A plain
    project (bizmodel init): monitor → experiments → plan (when it declares levers) → report
    from its store."""
    from rich.console import Console

    from bizmodel.templates import parse_option, run_project

    console = Console(stderr=True)
    result = run_project(
        directory,
        options=dict(parse_option(o) for o in option or []),
        show_progress=progress,
        progress=(lambda msg: console.print(f"[bold cyan]{msg}")) if progress else None,
    )
    emit(result, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("new")(new)
    app.command("run")(run)
