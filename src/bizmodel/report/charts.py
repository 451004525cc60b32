"""Figure sections: KPI trends, experiment lifts and a fitted growth curve (the Pareto front
is in :mod:`bizmodel.report.pareto`).

Each builder takes the plain data of another capability's ``to_dict()`` output and returns a
:class:`~bizmodel.report.section.Section` holding Plotly figure JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import DataError
from bizmodel.report.formatting import (
    format_percent,
    format_value,
    kpi_label,
    kpi_unit,
    plotly_format,
)
from bizmodel.report.section import (
    _BLUE,
    _GREEN,
    _GREY,
    _RED,
    Section,
    _figure,
    _layout,
    _need,
    _num,
    _nums,
)

__all__ = [
    "experiment_lifts_section",
    "growth_curve_section",
    "kpi_trends_section",
]


def kpi_trends_section(
    kpis: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    title: str = "KPI trends",
    columns: int = 3,
) -> Section:
    """Small multiples of KPI values over time.

    Parameters
    ----------
    kpis : dict or list
        ``KpiReport.to_dict()`` (``{"kpis": [...]}``) or its list: each item has ``name``,
        ``unit``, ``direction`` and ``points`` = ``[{"start": ISO time, "value": float|None}]``.
    names : list of str, optional
        Which KPIs, in order; all by default. Without ``names``, a KPI with no value in any
        window (``live_accuracy`` of a regression model) is left out and named in the notes.

    Examples
    --------
    >>> s = kpi_trends_section([{"name": "revenue_usd", "points": [
    ...     {"start": "2026-01-01", "value": 10.0}, {"start": "2026-01-02", "value": None}]}])
    >>> s.figures[0]["data"][0]["y"], s.table[0]["latest"], s.table[0]["kpi"]
    ([10.0, None], '$10.00', 'Revenue (USD)')
    """
    from plotly.subplots import make_subplots

    items = list(kpis["kpis"] if isinstance(kpis, Mapping) else kpis)
    for i, k in enumerate(items):
        _need(k, ("name", "points"), f"kpis[{i}]")
    if names is not None:
        by_name = {k["name"]: k for k in items}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataError(f"kpi_trends_section: unknown KPI(s) {unknown}; have {sorted(by_name)}")
        items = [by_name[n] for n in names]
    empty = [] if names is not None else [k for k in items if not _has_value(k)]
    if len(empty) < len(items):
        items = [k for k in items if k not in empty]
    else:
        empty = []  # nothing has a value yet: show the empty axes rather than nothing
    if not items:
        raise DataError("kpi_trends_section: no KPIs given")
    rows = math.ceil(len(items) / columns)
    arrows = ["↓" if k.get("direction") == "down" else "↑" for k in items]  # which way is good
    titles = [
        f"{kpi_label(k['name'], k.get('unit') or None)} {a}"
        for k, a in zip(items, arrows, strict=True)
    ]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, vertical_spacing=0.5 / rows)
    table = []
    for i, k in enumerate(items):
        unit = k.get("unit") or kpi_unit(k["name"])
        x = [p["start"] for p in k["points"]]
        y = _nums((p.get("value") for p in k["points"]), f"KPI {k['name']}")
        fig.add_scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=kpi_label(k["name"], unit),
            showlegend=False,
            hovertemplate=f"%{{x}}<br>%{{y:{plotly_format(unit)}}}<extra></extra>",
            line={"color": _BLUE},
            # an open marker: the window is not over yet (its value will still change)
            marker={
                "size": 5,
                "symbol": [
                    "circle" if p.get("complete", True) else "circle-open" for p in k["points"]
                ],
            },
            row=i // columns + 1,
            col=i % columns + 1,
        )
        fig.update_yaxes(tickformat=plotly_format(unit), row=i // columns + 1, col=i % columns + 1)
        last = next((v for v in reversed(y) if v is not None), None)
        table.append(
            {
                "kpi": kpi_label(k["name"], unit),
                "latest": format_value(last, unit),
                "window": k.get("window", ""),
                "formula": k.get("formula", ""),
            }
        )
    fig.update_layout(_layout(height=230 * rows + 40, margin={"l": 50, "r": 20, "t": 40, "b": 30}))
    fig.update_annotations(font_size=12)
    desc = "KPI values per time window; an open marker is a window still in progress."
    notes = (
        (f"Not shown, no value in any window: {', '.join(kpi_label(k['name']) for k in empty)}.",)
        if empty
        else ()
    )
    return Section("kpis", title, desc, (_figure(fig),), tuple(table), notes)


def _has_value(kpi: Mapping[str, Any]) -> bool:
    return any(_num(p.get("value")) is not None for p in kpi["points"])


def experiment_lifts_section(
    lifts: Sequence[Mapping[str, Any]],
    *,
    title: str = "Experiment lifts",
    x_label: str = "relative lift vs. control",
) -> Section:
    """Forest plot: one row per comparison, point estimate with its interval.

    Parameters
    ----------
    lifts : list of dict
        Each ``{"name": str, "lift": float, "ci_low": float, "ci_high": float}``, optional
        ``"p_value"``, ``"metric"``, ``"confidence"`` (e.g. 0.95). Lifts are relative (0.1 = +10%).
    """
    if not lifts:
        raise DataError("experiment_lifts_section: no lifts given")
    for i, item in enumerate(lifts):
        _need(item, ("name", "lift", "ci_low", "ci_high"), f"lifts[{i}]")
    import plotly.graph_objects as go

    names = [str(item["name"]) for item in lifts]
    lift = _nums((i["lift"] for i in lifts), "lift")
    lo = _nums((i["ci_low"] for i in lifts), "ci_low")
    hi = _nums((i["ci_high"] for i in lifts), "ci_high")
    colours = [
        _GREEN if (a or 0) > 0 else _RED if (b or 0) < 0 else _GREY
        for a, b in zip(lo, hi, strict=True)
    ]
    fig = go.Figure()
    fig.add_scatter(
        x=lift,
        y=names,
        mode="markers",
        name="lift",
        marker={"size": 10, "color": colours},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [
                (h - m) if h is not None and m is not None else None
                for h, m in zip(hi, lift, strict=True)
            ],
            "arrayminus": [
                (m - low) if low is not None and m is not None else None
                for low, m in zip(lo, lift, strict=True)
            ],
        },
    )
    fig.add_scatter(
        x=[0, 0],
        y=[names[0], names[-1]],
        mode="lines",
        name="no effect",
        line={"color": _GREY, "dash": "dash"},
    )
    fig.update_layout(
        _layout(
            height=max(220, 60 * len(names) + 120),
            xaxis={"title": x_label, "tickformat": "+.0%", "zeroline": False},
            yaxis={"autorange": "reversed"},
        )
    )
    table = tuple(
        {
            "comparison": n,
            "lift": format_percent(m, signed=True),
            "ci_low": format_percent(a, signed=True),
            "ci_high": format_percent(b, signed=True),
            "p_value": _num(i.get("p_value")),
        }
        for n, m, a, b, i in zip(names, lift, lo, hi, lifts, strict=True)
    )
    desc = (
        "Relative lift of each variant vs. control with its confidence interval "
        "(green: interval above 0, red: below)."
    )
    return Section("experiments", title, desc, (_figure(fig),), table)


def growth_curve_section(
    *,
    x: Sequence[float],
    y: Sequence[float],
    curve_x: Sequence[float],
    mean: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    x_label: str = "ad_spend_usd",
    y_label: str = "new users per day",
    group: Sequence[str] | None = None,
    title: str = "Growth curve",
    coefficients: Sequence[Mapping[str, Any]] = (),
) -> Section:
    """Fitted growth curve with its confidence band and the observed points.

    Parameters
    ----------
    x, y : observed lever values and outcomes (e.g. daily ad spend and new users per arm-day).
    curve_x, mean, lower, upper : the fitted curve on a grid and its band.
    group : optional label per observed point (e.g. the arm), used for colour.
    coefficients : optional rows ``{"name", "estimate", "ci_low", "ci_high", "truth"?}`` shown
        as a table.

    Examples
    --------
    >>> s = growth_curve_section(x=[1, 2], y=[3, 5], curve_x=[1, 2], mean=[3, 5],
    ...                          lower=[2, 4], upper=[4, 6])
    >>> [t["name"] for t in s.figures[0]["data"]]
    ['95% band', 'fitted', 'observed']
    """
    lengths = {len(curve_x), len(mean), len(lower), len(upper)}
    if len(lengths) != 1 or len(x) != len(y):
        raise DataError(
            "growth_curve_section: x/y and curve_x/mean/lower/upper must have equal lengths; "
            f"got x {len(x)}, y {len(y)}, curve {sorted(lengths)}"
        )
    import plotly.graph_objects as go

    cx = _nums(curve_x, "curve_x")
    fig = go.Figure()
    fig.add_scatter(
        x=cx + cx[::-1],
        y=_nums(upper, "upper") + _nums(lower, "lower")[::-1],
        fill="toself",
        fillcolor="rgba(31,119,180,0.18)",
        line={"width": 0},
        name="95% band",
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=cx, y=_nums(mean, "mean"), mode="lines", name="fitted", line={"color": _BLUE, "width": 3}
    )
    groups = [str(g) for g in group] if group is not None else ["observed"] * len(x)
    xs, ys = _nums(x, "x"), _nums(y, "y")
    for g in dict.fromkeys(groups):
        idx = [i for i, gi in enumerate(groups) if gi == g]
        fig.add_scatter(
            x=[xs[i] for i in idx],
            y=[ys[i] for i in idx],
            mode="markers",
            name=g,
            marker={"size": 6, "opacity": 0.7},
        )
    fig.update_layout(
        _layout(
            xaxis={"title": x_label, "tickformat": _axis_format(x_label)},
            yaxis={"title": y_label, "tickformat": _axis_format(y_label)},
        )
    )
    desc = "Fitted response with its confidence band, over the observed data."
    return Section("growth", title, desc, (_figure(fig),), tuple(dict(c) for c in coefficients))


def _axis_format(name: str) -> str:
    """Plotly tick format of an axis named ``name``: money without SI prefixes ("$40,000",
    not "40k"), other numbers with thousands separators."""
    # "usd" in a name or its "(USD)" unit; "$9.99" inside a label is a setting, not the unit
    return plotly_format("USD" if "usd" in name.lower() else "")


def _show(key: str, value: Any) -> str:
    """A lever or quantity for a label: money as money, numbers to 4 digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_value(value, "USD" if "usd" in key.lower() else "")
    return str(value)
