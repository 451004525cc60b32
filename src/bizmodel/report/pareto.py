"""The trade-off section: a Pareto front between two objectives and the recommended plan."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import DataError
from bizmodel.report.charts import _axis_format, _show
from bizmodel.report.formatting import kpi_label
from bizmodel.report.section import _BLUE, _ORANGE, Section, _figure, _layout, _need, _num, _nums

__all__ = ["pareto_section"]


def pareto_section(
    *,
    front: Sequence[Mapping[str, Any]],
    chosen: Mapping[str, Any],
    x: str,
    y: str,
    others: Sequence[Mapping[str, Any]] = (),
    label: str | None = None,
    title: str = "Pareto front and recommendation",
    status: str = "optimal",
    message: str = "",
) -> Section:
    """Trade-off between two objectives: the Pareto front, other candidates and the chosen point.

    With ``status="infeasible"`` (the constraints cannot all be met) the front may be empty:
    the section then says which constraint binds and by how much (``message``) and shows
    ``chosen`` as the closest plan.

    Parameters
    ----------
    front : list of dict
        Non-dominated points; each has keys ``x`` and ``y`` (objective names) and any levers.
    chosen : dict
        The recommended point (same keys).
    x, y : str
        Objective names to plot.
    others : list of dict
        Dominated candidates, drawn faintly.
    label : str, optional
        Key whose value labels each front point (e.g. ``"model_version"``).

    Examples
    --------
    >>> front = [{"users": 100.0, "margin": 50.0}, {"users": 80.0, "margin": 90.0}]
    >>> s = pareto_section(front=front, chosen=front[1], x="users", y="margin")
    >>> s.figures[0]["data"][0]["x"]
    [80.0, 100.0]
    """
    infeasible = status != "optimal"
    if not front and not infeasible:
        raise DataError("pareto_section: the front is empty")
    for i, p in enumerate([*front, chosen, *others]):
        _need(p, (x, y), f"pareto point {i}")
    import plotly.graph_objects as go

    pts = sorted(front, key=lambda p: float(p[x]))

    def hover(p: Mapping[str, Any]) -> str:
        return "<br>".join(f"{kpi_label(k)}: {_show(k, v)}" for k, v in p.items())

    # each point labelled by its own lever: the first that differs along the front (a label
    # that is the same everywhere, "large" on every point, says nothing)
    varying = [k for k in (label, *(k for k in (pts[0] if pts else {}) if k != label)) if k]
    varying = [k for k in varying if k not in (x, y) and len({str(p.get(k)) for p in pts}) > 1]
    every = math.ceil(len(pts) / 8)  # at most 8 labels: more overlap
    texts = [
        _show(varying[0], p.get(varying[0])) if varying and i % every == 0 else ""
        for i, p in enumerate(pts)
    ]

    fig = go.Figure()
    if others:
        fig.add_scatter(
            x=_nums((p[x] for p in others), x),
            y=_nums((p[y] for p in others), y),
            mode="markers",
            name="dominated",
            marker={"color": "#c7c7c7", "size": 6},
            hovertext=[hover(p) for p in others],
            hoverinfo="text",
        )
    if pts:
        fig.add_scatter(
            x=_nums((p[x] for p in pts), x),
            y=_nums((p[y] for p in pts), y),
            mode="lines+markers" + ("+text" if label and varying else ""),
            name="Pareto front",
            text=texts if label and varying else None,
            textposition="top center",
            line={"color": _BLUE},
            hovertext=[hover(p) for p in pts],
            hoverinfo="text",
        )
    fig.add_scatter(
        x=[_num(chosen[x])],
        y=[_num(chosen[y])],
        mode="markers",
        name="closest plan (infeasible)" if infeasible else "recommended",
        marker={
            "symbol": "star",
            "size": 18,
            "color": _ORANGE,
            "line": {"color": "black", "width": 1},
        },
        hovertext=[hover(chosen)],
        hoverinfo="text",
    )
    fig.update_layout(
        _layout(
            xaxis={"title": kpi_label(x), "tickformat": _axis_format(x)},
            yaxis={"title": kpi_label(y), "tickformat": _axis_format(y)},
        )
    )
    if infeasible:
        table = ({"": "closest plan", **dict(chosen)},)
        text = (
            f"No plan meets every constraint ({status}): {message}. The star is the plan "
            "that came closest; loosen the binding constraint or widen the lever bounds."
        )
    else:
        table = ({"": "recommended", **dict(chosen)},)
        text = f"Trade-off between {x} and {y}; the star is the recommendation."
    return Section(
        "pareto",
        title,
        text,
        (_figure(fig),),
        table,
    )
