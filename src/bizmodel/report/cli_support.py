"""What ``bizmodel report`` calls: load section inputs, render, write.

Examples
--------
>>> load_report_data(None, demo=False)
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: report: no data; give --data FILE.json or --demo-data
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError, DataError


def load_report_data(
    path: str | Path | None, *, demo: bool = False, days: int = 28, seed: int = 0
) -> dict[str, Any]:
    """Section inputs from a JSON file (an object keyed by section) or from the simulator."""
    if demo:
        from bizmodel.report.demo import demo_report_data

        return demo_report_data(days=days, seed=seed)
    if path is None:
        raise ConfigError("report: no data; give --data FILE.json or --demo-data")
    p = Path(path)
    try:
        loaded = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", file=str(p)) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=str(p)
        ) from None
    if not isinstance(loaded, dict):
        raise DataError(
            f"expected a JSON object keyed by section, got {type(loaded).__name__}", file=str(p)
        )
    return loaded


def render_report(data: dict[str, Any], *, output: str | Path, title: str) -> tuple[Path, int]:
    """Build the report from section inputs and write it atomically; return (path, #sections)."""
    from bizmodel.report.html import build_report
    from bizmodel.report.sections import sections_from_data

    sections = sections_from_data(data)
    build_report(sections, title=title, output=output)
    return Path(output), len(sections)
