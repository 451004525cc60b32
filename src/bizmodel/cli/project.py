"""``bizmodel init``, and the ``--project`` option every command that touches a project takes.

The option's default is ``$BIZMODEL_PROJECT_DIR``, else the current folder (what
:meth:`bizmodel.config.Settings.load` does with ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="Project folder (bizmodel.toml, database, registry); "
        "default $BIZMODEL_PROJECT_DIR or the current folder.",
    ),
]


@dataclass(frozen=True)
class InitResult:
    """Where ``bizmodel init`` wrote the project."""

    config: str

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "project_dir": str(Path(self.config).parent)}

    def summary(self) -> str:
        d = Path(self.config).parent
        return (
            f"Wrote {self.config}. Next:\n"
            f"  bizmodel serve --project {d}        # events, /v1/assign, experiments\n"
            f"  bizmodel ab-test --project {d} --experiment NAME\n"
            f"  bizmodel monitor --project {d}"
        )


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder (created when missing).")],
    title: Annotated[str | None, typer.Option(help="Title (default: the folder name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a plain project: a commented bizmodel.toml with example metrics."""
    from bizmodel.config import init_project

    emit(InitResult(str(init_project(directory, title=title))), as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("init")(init)
