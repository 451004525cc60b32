"""How numbers read, in one place: the HTML report, the dashboard and the web app share it.

* :func:`format_currency` — ``$2,157``, ``$40.50``, ``$0.0000416``: 2–4 significant digits,
  thousands separators, never an SI prefix ("40µ");
* :func:`format_percent` — a share as ``12.3%`` (``signed=True`` for lifts: ``+12.3%``);
* :func:`format_count` — ``2,157``;
* :func:`format_number` — anything else, 4 significant digits, thousands separators;
* :func:`format_value` — one of the above chosen by a KPI's unit;
* :func:`kpi_label` — ``gross_margin`` → ``Gross margin (%)``;
* :func:`plotly_format` — the d3 format for a Plotly axis or hover template of a unit, so a
  chart's ticks read like the tables (``$,.3~r`` rather than Plotly's default ``40µ``).

Examples
--------
>>> format_currency(0.00004156), format_currency(2157.3), format_percent(0.1234)
('$0.0000416', '$2,157', '12.3%')
>>> kpi_label("gross_margin"), kpi_label("revenue_usd", "USD")
('Gross margin (%)', 'Revenue (USD)')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "MISSING",
    "format_cell",
    "format_count",
    "format_currency",
    "format_number",
    "format_p_value",
    "format_percent",
    "format_value",
    "kpi_label",
    "kpi_unit",
    "plotly_format",
    "unit_symbol",
]

MISSING = "—"  # shown for None, NaN and infinities

# units as KPI definitions spell them (bizmodel.monitor.kpi) -> how a label shows them
_UNIT_SYMBOLS = {
    "USD": "USD",
    "share": "%",
    "ms": "ms",
    "users": "users",
    "predictions": "predictions",
    "target units": "target units",
}
_COUNT_UNITS = {"users", "predictions", "events", "count"}
# human names of the KPIs bizmodel computes; others are derived from the snake_case name
_KPI_NAMES = {
    "arpu_usd": "ARPU",
    "cost_usd_per_1k": "Cost per 1k predictions",
    "latency_p50_ms": "Latency p50",
    "latency_p95_ms": "Latency p95",
    "live_mae": "Live MAE",
    "prediction_volume": "Predictions",
    "gross_margin": "Gross margin",
}
_SUFFIX_UNITS = {"_usd": "USD", "_ms": "ms", "_pct": "share"}


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _round_sig(x: float, digits: int) -> float:
    if x == 0:
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _decimals_for(x: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of ``x`` (0 for |x| >= 10**digits)."""
    if x == 0:
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(x))))


def format_number(value: Any, digits: int = 4) -> str:
    """A plain number: ``digits`` significant digits, thousands separators, no exponent
    between 1e-6 and 1e15.

    Examples
    --------
    >>> format_number(0.00004156), format_number(1234567.8), format_number(0.71234)
    ('0.00004156', '1,235,000', '0.7123')
    >>> format_number(12.0), format_number(None)
    ('12', '—')
    """
    x = _finite(value)
    if x is None:
        return MISSING
    x = _round_sig(x, digits)
    if x != 0 and not 1e-6 <= abs(x) < 1e15:
        return f"{x:.{digits - 1}e}"
    text = f"{x:,.{_decimals_for(x, digits)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_currency(value: Any, symbol: str = "$") -> str:
    """Money with 2–4 significant digits: cents below $100, whole dollars above, 4 significant
    digits from $10,000 and 3 below $1.

    Examples
    --------
    >>> [format_currency(v) for v in (40.5, 123.456, 12345.6, 0.5, -3.2, 0)]
    ['$40.50', '$123', '$12,350', '$0.50', '-$3.20', '$0']
    """
    x = _finite(value)
    if x is None:
        return MISSING
    sign, a = ("-" if x < 0 else ""), abs(x)
    if a == 0:
        return f"{symbol}0"
    if a >= 10_000:
        text = f"{_round_sig(a, 4):,.0f}"
    elif a >= 100:
        text = f"{a:,.0f}"
    elif a >= 1:
        text = f"{a:.2f}"
    else:
        r = _round_sig(a, 3)
        text = f"{r:.{max(2, _decimals_for(r, 3))}f}"
        while text.endswith("0") and len(text.split(".")[1]) > 2:
            text = text[:-1]  # $0.50, not $0.500
    return f"{sign}{symbol}{text}"


def format_percent(value: Any, decimals: int = 1, *, signed: bool = False) -> str:
    """A share (0.123) as a percentage (``12.3%``); ``signed`` puts ``+`` on gains.

    Examples
    --------
    >>> format_percent(0.99999996), format_percent(-0.05, signed=True), format_percent(0.2, 0)
    ('100.0%', '-5.0%', '20%')
    """
    x = _finite(value)
    if x is None:
        return MISSING
    text = f"{x * 100:{'+' if signed else ''}.{decimals}f}%"
    return text.replace("+0.0%", "0.0%") if signed else text


def format_p_value(value: Any) -> str:
    """A p-value to 3 decimals, ``< 0.001`` below that.

    Examples
    --------
    >>> format_p_value(0.04509), format_p_value(6.3e-07), format_p_value(1.0)
    ('0.045', '< 0.001', '1.000')
    """
    x = _finite(value)
    if x is None:
        return MISSING
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def format_count(value: Any) -> str:
    """A count with thousands separators, rounded to a whole number.

    Examples
    --------
    >>> format_count(2157), format_count(1234567.4)
    ('2,157', '1,234,567')
    """
    x = _finite(value)
    return MISSING if x is None else f"{round(x):,}"


def format_value(value: Any, unit: str = "") -> str:
    """``value`` formatted for its unit (``USD``, ``share``, ``users``, ``ms``, ...).

    Examples
    --------
    >>> format_value(0.42, "share"), format_value(2157.0, "users"), format_value(12.3456, "ms")
    ('42.0%', '2,157', '12.35')
    """
    if unit == "USD":
        return format_currency(value)
    if unit == "share":
        return format_percent(value)
    if unit in _COUNT_UNITS:
        return format_count(value)
    return format_number(value)


def format_cell(value: Any) -> str:
    """A table cell whose unit is unknown: integers with separators, floats to 4 digits.

    Examples
    --------
    >>> format_cell(2157), format_cell(4.156e-05), format_cell("v1"), format_cell(None)
    ('2,157', '0.00004156', 'v1', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else format_number(value)
    return str(value)


def unit_symbol(unit: str) -> str:
    """How a label shows ``unit``: ``share`` → ``%``, others as they are."""
    return _UNIT_SYMBOLS.get(unit, unit)


def kpi_unit(name: str) -> str:
    """A KPI's unit: its definition's (:data:`bizmodel.monitor.kpi.KPIS`) or its name's suffix.

    Examples
    --------
    >>> kpi_unit("gross_margin"), kpi_unit("profit_usd"), kpi_unit("users")
    ('share', 'USD', '')
    """
    from bizmodel.monitor.kpi import KPIS

    unit = KPIS[name].unit if name in KPIS else ""
    return unit or next((u for s, u in _SUFFIX_UNITS.items() if name.endswith(s)), "")


def kpi_label(name: str, unit: str | None = None) -> str:
    """A KPI's human name with its unit: ``gross_margin`` → ``Gross margin (%)``.

    The unit defaults to the KPI's own (:data:`bizmodel.monitor.kpi.KPIS`) or the name's suffix
    (``_usd``, ``_ms``).

    Examples
    --------
    >>> kpi_label("latency_p95_ms"), kpi_label("active_users"), kpi_label("signups_per_day")
    ('Latency p95 (ms)', 'Active users', 'Signups per day')
    """
    if unit is None:
        unit = kpi_unit(name)
    base = _KPI_NAMES.get(name)
    if base is None:
        stem = name
        for suffix in _SUFFIX_UNITS:
            stem = stem.removesuffix(suffix)
        base = stem.replace("_", " ").strip().capitalize()
    symbol = unit_symbol(unit)
    # "Active users (users)" says nothing more than "Active users"
    if not symbol or symbol in base.lower():
        return base
    return f"{base} ({symbol})"


def plotly_format(unit: str = "") -> str:
    """The d3 format of a unit for Plotly's ``tickformat`` and ``%{y:...}`` hover templates.

    Without it Plotly writes money as ``40µ``; these never use SI prefixes.

    Examples
    --------
    >>> plotly_format("USD"), plotly_format("share"), plotly_format("users")
    ('$,.3~r', '.1%', ',.0f')
    """
    if unit == "USD":
        return "$,.3~r"
    if unit == "share":
        return ".1%"
    if unit in _COUNT_UNITS:
        return ",.0f"
    return ",.4~r"
