"""The report's building block, :class:`Section`, and the helpers every section builder uses.

A section is plain data — heading, text, Plotly figures as dicts and table rows — so the HTML
report and the live dashboard render the same thing. The builders live in
:mod:`bizmodel.report.charts` (figures of KPIs, experiments and growth),
:mod:`bizmodel.report.pareto` (trade-offs) and
:mod:`bizmodel.report.monitoring` (model versions, drift, alerts);
:mod:`bizmodel.report.sections` maps a dict of their inputs to sections.

Examples
--------
>>> Section("alerts", "Alerts", "No alert fired.").to_dict()["figures"]
[]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bizmodel.errors import DataError

_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
_SEVERITY_COLOURS = {"none": _GREEN, "moderate": _ORANGE, "major": _RED}


@dataclass(frozen=True)
class Section:
    """One block of the report: heading, text, Plotly figures (as dicts) and a table."""

    key: str  # stable identifier, used for element ids
    title: str
    description: str = ""
    figures: tuple[dict[str, Any], ...] = ()  # Plotly figure JSON: {"data": [...], "layout": {}}
    table: tuple[dict[str, Any], ...] = ()  # rows shown under the figures
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what the dashboard's JSON endpoint sends)."""
        return {
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "figures": list(self.figures),
            "table": list(self.table),
            "notes": list(self.notes),
        }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _nums(values: Any, what: str) -> list[float | None]:
    try:
        return [_num(v) for v in list(values)]
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: expected numbers ({exc})") from None


def _need(item: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in item]
    if missing:
        raise DataError(f"{what}: missing key(s) {missing}; got {sorted(item)}")


def _figure(fig: Any) -> dict[str, Any]:
    import plotly.io as pio

    out: dict[str, Any] = json.loads(pio.to_json(fig, validate=False))
    return out


def _layout(**kwargs: Any) -> dict[str, Any]:
    base = {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "height": 380,
        "legend": {"orientation": "h", "y": -0.2},
    }
    base.update(kwargs)
    return base
