"""The ``bizmodel`` command line: a thin shell over the Python API.

Every command parses its options, calls exactly one library function and prints its result.
Errors a user can cause (:class:`~bizmodel.errors.BizmodelError`) are turned into one line
``Error: ...`` on stderr and exit code 1 here, in one place. Heavy libraries (torch,
transformers) are imported inside the commands, so ``bizmodel --help`` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from bizmodel.errors import BizmodelError

app = typer.Typer(
    name="bizmodel",
    help="Fine-tune a transformer, serve it, and keep its business model sustainable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """bizmodel: model + business model in one place."""


def _register_commands() -> None:
    # Each capability keeps its commands in its own module; importing them must stay light.
    from bizmodel.cli import (
        business,
        experiments,
        finetune,
        flywheel,
        keys,
        monitoring,
        project,
        responsible,
        scale,
        serving,
        templates,
    )

    modules = (
        project,
        finetune,
        experiments,
        business,
        serving,
        monitoring,
        responsible,
        flywheel,
        templates,
        scale,
        keys,
    )
    for module in modules:
        module.register(app)


_register_commands()


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code instead of exiting.

    Examples
    --------
    >>> run(["--help"])  # doctest: +SKIP
    0
    """
    try:
        app(args=list(argv) if argv is not None else None, prog_name="bizmodel")
    except SystemExit as exc:  # click's standalone mode ends every run with SystemExit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BizmodelError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
