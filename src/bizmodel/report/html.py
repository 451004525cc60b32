"""The self-contained HTML report: one file, plotly.js inlined once, figures as JSON.

Examples
--------
>>> from bizmodel.report.sections import model_versions_section
>>> html = build_report([model_versions_section(
...     [{"version": "v1", "quality": 0.7, "cost_usd_per_1k": 0.5}])], title="Demo")
>>> html.startswith("<!DOCTYPE html>"), html.count("<script>")
(True, 2)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bizmodel.errors import DataError
from bizmodel.report.formatting import format_cell
from bizmodel.report.sections import Section, sections_from_data


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("bizmodel.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf as None and numpy scalars as plain numbers (strict JSON).

    Examples
    --------
    >>> json_safe({"a": [1.0, float("nan")]})
    {'a': [1.0, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return value


def script_json(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>``, no ``<!--``).

    Examples
    --------
    >>> script_json({"a": "</script>"})
    '{"a":"\\\\u003c/script>"}'
    """
    return json.dumps(json_safe(data), allow_nan=False, separators=(",", ":")).replace(
        "<", "\\u003c"
    )


def _cell(v: Any) -> dict[str, str]:
    # the same text as the dashboard's and the web app's tables (report.formatting)
    numeric = isinstance(v, int | float) and not isinstance(v, bool)
    return {"text": format_cell(v), "cls": "num" if numeric else ""}


def _table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[dict[str, str]]]]:
    cols: list[str] = []
    for r in rows:
        cols.extend(c for c in r if c not in cols)
    return cols, [[_cell(r.get(c)) for c in cols] for r in rows]


def build_report(
    sections: Sequence[Section] | Mapping[str, Any],
    *,
    title: str = "bizmodel report",
    subtitle: str | None = None,
    output: str | os.PathLike[str] | None = None,
) -> str:
    """Render sections into one self-contained HTML page; write it to ``output`` if given.

    Parameters
    ----------
    sections : list of Section, or dict
        Sections from the builders in :mod:`bizmodel.report.sections`, or a dict of their
        inputs (see :func:`~bizmodel.report.sections.sections_from_data`).
    output : path, optional
        Written atomically (temporary file in the same folder, then renamed), so a reader
        never sees half a report.

    Returns
    -------
    str
        The HTML.
    """
    import plotly.offline

    from bizmodel import __version__

    items = sections_from_data(sections) if isinstance(sections, Mapping) else list(sections)
    if not items:
        raise DataError("build_report: no sections to render")
    keys = [s.key for s in items]
    if len(set(keys)) != len(keys):
        raise DataError(f"build_report: section keys must be unique; got {keys}")
    figures = {f"chart-{s.key}-{i}": fig for s in items for i, fig in enumerate(s.figures)}
    views = []
    for s in items:
        columns, rows = _table(s.table)
        views.append(
            {
                "key": s.key,
                "title": s.title,
                "description": s.description,
                "figures": s.figures,
                "notes": s.notes,
                "table": bool(s.table),
                "columns": columns,
                "rows": rows,
            }
        )
    html: str = (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            subtitle=subtitle,
            sections=views,
            figures_json=script_json(figures),
            plotly_js=plotly.offline.get_plotlyjs(),
            generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
        )
    )
    if output is not None:
        write_atomic(output, html)
    return html


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> write_atomic(os.path.join(d, "r.html"), "<p>hi</p>").read_text()
    '<p>hi</p>'
    """
    target = Path(path)
    if target.is_dir():
        raise DataError(f"{target}: is a folder; give a file name such as {target / 'report.html'}")
    if not target.parent.is_dir():
        raise DataError(f"{target}: folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
