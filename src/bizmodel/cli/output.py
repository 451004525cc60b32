"""Printing results: one JSON object with ``--json``, the result's ``summary()`` otherwise."""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

import typer


class _Result(Protocol):
    def summary(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: print them as null rather than emit invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def to_json(data: Any) -> str:
    """Serialise ``data`` as strict JSON (NaN/inf become null, numpy scalars plain numbers)."""
    return json.dumps(_clean(data), indent=2, default=str, allow_nan=False)


def emit(result: _Result, as_json: bool) -> None:
    """Print ``result`` as JSON (``to_dict()``) or as its text ``summary()``."""
    typer.echo(to_json(result.to_dict()) if as_json else result.summary())
