"""Step-by-step progress of a long run (the flywheel, a template's ``run``), for the console.

A run takes an optional ``progress`` callable and reports each step through :func:`say`; the
CLI passes its console's printer, the Python API passes nothing.

Examples
--------
>>> say(print, "[1/7] training")
[1/7] training
>>> say(None, "not shown")
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def say(progress: Progress | None, msg: str) -> None:
    """Report one step of a run to ``progress`` (the CLI's console), if there is one."""
    if progress is not None:
        progress(msg)
