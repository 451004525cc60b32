"""Report sections: plain data in, a titled Plotly figure (plus an optional table) out.

Every builder takes simple inputs (dicts, lists, DataFrames) in the shape of the other
capabilities' ``to_dict()`` outputs, so the HTML report and the live dashboard can be fed
from anything. :func:`sections_from_data` maps one dict of such inputs to sections:

==================  ==========================================  =============================
key                 value                                       builder
==================  ==========================================  =============================
``alerts``          list of ``Alert.to_dict()``                 :func:`alerts_section`
``kpis``            ``KpiReport.to_dict()``                     :func:`kpi_trends_section`
``experiments``     list of lift dicts                          :func:`experiment_lifts_section`
``growth``          dict of keyword arguments                   :func:`growth_curve_section`
``pareto``          dict of keyword arguments                   :func:`pareto_section`
``model_versions``  list of version dicts                       :func:`model_versions_section`
``drift``           ``DriftReport.to_dict()``                   :func:`drift_section`
``custom``          list of ``Section.to_dict()``-shaped dicts  :func:`custom_sections`
==================  ==========================================  =============================

Examples
--------
>>> s = experiment_lifts_section([{"name": "price 14.99", "lift": -0.2, "ci_low": -0.3,
...                                "ci_high": -0.1}])
>>> s.key, len(s.figures[0]["data"])
('experiments', 2)
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


# ----------------------------------------------------------------------------- helpers


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


# ----------------------------------------------------------------------------- builders


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
        Which KPIs, in order; all by default.

    Examples
    --------
    >>> s = kpi_trends_section([{"name": "revenue_usd", "points": [
    ...     {"start": "2026-01-01", "value": 10.0}, {"start": "2026-01-02", "value": None}]}])
    >>> s.figures[0]["data"][0]["y"], s.table[0]["latest"]
    ([10.0, None], 10.0)
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
    if not items:
        raise DataError("kpi_trends_section: no KPIs given")
    rows = math.ceil(len(items) / columns)
    titles = [
        f"{k['name']} ({'↑' if k.get('direction', 'up') == 'up' else '↓'} good)" for k in items
    ]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, vertical_spacing=0.5 / rows)
    table = []
    for i, k in enumerate(items):
        x = [p["start"] for p in k["points"]]
        y = _nums((p.get("value") for p in k["points"]), f"KPI {k['name']}")
        fig.add_scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=k["name"],
            showlegend=False,
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
        last = next((v for v in reversed(y) if v is not None), None)
        table.append(
            {
                "kpi": k["name"],
                "latest": last,
                "unit": k.get("unit", ""),
                "window": k.get("window", ""),
                "formula": k.get("formula", ""),
            }
        )
    fig.update_layout(_layout(height=230 * rows + 40, margin={"l": 50, "r": 20, "t": 40, "b": 30}))
    fig.update_annotations(font_size=12)
    desc = "KPI values per time window; an open marker is a window still in progress."
    return Section("kpis", title, desc, (_figure(fig),), tuple(table))


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
        {"comparison": n, "lift": m, "ci_low": a, "ci_high": b, "p_value": _num(i.get("p_value"))}
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
    fig.update_layout(_layout(xaxis={"title": x_label}, yaxis={"title": y_label}))
    desc = "Fitted response with its confidence band, over the observed data."
    return Section("growth", title, desc, (_figure(fig),), tuple(dict(c) for c in coefficients))


def pareto_section(
    *,
    front: Sequence[Mapping[str, Any]],
    chosen: Mapping[str, Any],
    x: str,
    y: str,
    others: Sequence[Mapping[str, Any]] = (),
    label: str | None = None,
    title: str = "Pareto front and recommendation",
) -> Section:
    """Trade-off between two objectives: the Pareto front, other candidates and the chosen point.

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
    if not front:
        raise DataError("pareto_section: the front is empty")
    for i, p in enumerate([*front, chosen, *others]):
        _need(p, (x, y), f"pareto point {i}")
    import plotly.graph_objects as go

    pts = sorted(front, key=lambda p: float(p[x]))

    def hover(p: Mapping[str, Any]) -> str:
        return "<br>".join(
            f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in p.items()
        )

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
    fig.add_scatter(
        x=_nums((p[x] for p in pts), x),
        y=_nums((p[y] for p in pts), y),
        mode="lines+markers" + ("+text" if label else ""),
        name="Pareto front",
        text=[str(p.get(label, "")) for p in pts] if label else None,
        textposition="top center",
        line={"color": _BLUE},
        hovertext=[hover(p) for p in pts],
        hoverinfo="text",
    )
    fig.add_scatter(
        x=[_num(chosen[x])],
        y=[_num(chosen[y])],
        mode="markers",
        name="recommended",
        marker={
            "symbol": "star",
            "size": 18,
            "color": _ORANGE,
            "line": {"color": "black", "width": 1},
        },
        hovertext=[hover(chosen)],
        hoverinfo="text",
    )
    fig.update_layout(_layout(xaxis={"title": x}, yaxis={"title": y}))
    table = ({"": "recommended", **dict(chosen)},)
    return Section(
        "pareto",
        title,
        f"Trade-off between {x} and {y}; the star is the recommendation.",
        (_figure(fig),),
        table,
    )


def model_versions_section(
    versions: Sequence[Mapping[str, Any]],
    *,
    quality_key: str = "quality",
    cost_key: str = "cost_usd_per_1k",
    title: str = "Model versions",
) -> Section:
    """Quality against inference cost per model version.

    Parameters
    ----------
    versions : list of dict
        Each ``{"version": str, "quality": float, "cost_usd_per_1k": float}``, optionally
        ``"stage"`` (``champion`` is highlighted), ``"latency_ms"`` and any metrics (shown in
        the table).

    Examples
    --------
    >>> s = model_versions_section([{"version": "v2", "quality": 0.8, "cost_usd_per_1k": 2.0,
    ...                              "stage": "champion"}])
    >>> s.figures[0]["data"][0]["marker"]["color"]
    ['#ff7f0e']
    """
    if not versions:
        raise DataError("model_versions_section: no versions given")
    for i, v in enumerate(versions):
        _need(v, ("version", quality_key, cost_key), f"versions[{i}]")
    import plotly.graph_objects as go

    champion = [str(v.get("stage", "")) == "champion" for v in versions]
    fig = go.Figure()
    fig.add_scatter(
        x=_nums((v[cost_key] for v in versions), cost_key),
        y=_nums((v[quality_key] for v in versions), quality_key),
        mode="markers+text",
        text=[str(v["version"]) for v in versions],
        textposition="top center",
        marker={
            "size": [16 if c else 11 for c in champion],
            "color": [_ORANGE if c else _BLUE for c in champion],
            "line": {"color": "black", "width": 1},
        },
        name="versions",
    )
    fig.update_layout(
        _layout(xaxis={"title": cost_key, "rangemode": "tozero"}, yaxis={"title": quality_key})
    )
    return Section(
        "model_versions",
        title,
        "Each version's quality against its inference cost (orange: champion).",
        (_figure(fig),),
        tuple(dict(v) for v in versions),
    )


def drift_section(drift: Mapping[str, Any], *, title: str = "Drift") -> Section:
    """PSI and Jensen-Shannon distance per feature with the threshold lines.

    Parameters
    ----------
    drift : dict
        ``DriftReport.to_dict()``: ``{"features": [{"name", "psi", "js", "severity"}],
        "thresholds": {"psi_moderate", "psi_major", "js_moderate", "js_major"}}``.

    Examples
    --------
    >>> s = drift_section({"features": [{"name": "length_chars", "psi": 0.3, "js": 0.2,
    ...                                  "severity": "major"}]})
    >>> s.figures[0]["data"][0]["y"]
    [0.3]
    """
    feats = list(drift.get("features", []))
    if not feats:
        raise DataError("drift_section: no features in the drift report")
    for i, f in enumerate(feats):
        _need(f, ("name", "psi", "js"), f"drift features[{i}]")
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = {"psi_moderate": 0.1, "psi_major": 0.25, "js_moderate": 0.1, "js_major": 0.2}
    t.update(drift.get("thresholds", {}))
    names = [str(f["name"]) for f in feats]
    colours = [_SEVERITY_COLOURS.get(str(f.get("severity", "none")), _GREY) for f in feats]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("PSI", "Jensen-Shannon distance"))
    for col, metric in ((1, "psi"), (2, "js")):
        fig.add_trace(
            go.Bar(
                x=names,
                y=_nums((f[metric] for f in feats), metric),
                marker_color=colours,
                name=metric.upper(),
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        for level, dash in (("moderate", "dot"), ("major", "dash")):
            fig.add_hline(
                y=float(t[f"{metric}_{level}"]),
                line_dash=dash,
                line_color=_GREY,
                annotation_text=level,
                row=1,
                col=col,
            )
    fig.update_layout(_layout())
    severity = drift.get("severity", "")
    table = tuple(
        {k: f.get(k) for k in ("name", "kind", "psi", "js", "severity", "n_reference", "n_current")}
        for f in feats
    )
    desc = (
        f"Overall: {severity}. Thresholds are effect sizes (PSI {t['psi_moderate']}/"
        f"{t['psi_major']}, JS {t['js_moderate']}/{t['js_major']}), not p-values."
    )
    return Section("drift", title, desc, (_figure(fig),), table)


def alerts_section(alerts: Sequence[Mapping[str, Any]], *, title: str = "Alerts") -> Section:
    """A table of fired alerts (``Alert.to_dict()`` each); no figure.

    Parameters
    ----------
    alerts : list of dict
        Each has ``rule``, ``severity``, ``subject``, ``value``, ``threshold``,
        ``window_start`` and ``message``; an empty list says "no alerts".
    """
    for i, a in enumerate(alerts):
        _need(a, ("rule", "message"), f"alerts[{i}]")
    cols = ("severity", "rule", "subject", "window_start", "value", "threshold", "message")
    rows = tuple({c: a.get(c) for c in cols} for a in alerts)
    desc = f"{len(rows)} alert(s) fired." if rows else "No alert fired."
    return Section("alerts", title, desc, (), rows)


def custom_sections(items: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Sections a caller built itself (a template's own plots), from ``Section.to_dict()`` shapes.

    Each item needs ``key`` and ``title``; ``description``, ``figures`` (Plotly figure dicts,
    e.g. ``go.Figure.to_plotly_json()``), ``table`` (list of row dicts) and ``notes`` are
    optional.

    Examples
    --------
    >>> [s.title for s in custom_sections([{"key": "frontier", "title": "Efficient frontier",
    ...                                      "table": [{"volatility": 0.1, "return": 0.05}]}])]
    ['Efficient frontier']
    """
    out = []
    for i, item in enumerate(items):
        _need(item, ("key", "title"), f"custom[{i}]")
        figures = tuple(
            _figure(f) if not isinstance(f, Mapping) else dict(f) for f in item.get("figures", ())
        )
        out.append(
            Section(
                key=str(item["key"]),
                title=str(item["title"]),
                description=str(item.get("description", "")),
                figures=figures,
                table=tuple(dict(r) for r in item.get("table", ())),
                notes=tuple(str(n) for n in item.get("notes", ())),
            )
        )
    return out


_BUILDERS: dict[str, Any] = {
    "alerts": lambda v: alerts_section(v),
    "custom": lambda v: custom_sections(v),
    "kpis": lambda v: kpi_trends_section(v),
    "experiments": lambda v: experiment_lifts_section(v),
    "growth": lambda v: growth_curve_section(**v),
    "pareto": lambda v: pareto_section(**v),
    "model_versions": lambda v: model_versions_section(v),
    "drift": lambda v: drift_section(v),
}

#: The keys :func:`sections_from_data` understands, in report order.
SECTION_KEYS = tuple(_BUILDERS)


def sections_from_data(data: Mapping[str, Any]) -> list[Section]:
    """Build the sections for whichever of :data:`SECTION_KEYS` ``data`` holds, in that order.

    Examples
    --------
    >>> [s.key for s in sections_from_data({"model_versions": [
    ...     {"version": "v1", "quality": 0.7, "cost_usd_per_1k": 0.5}]})]
    ['model_versions']
    """
    unknown = [k for k in data if k not in _BUILDERS]
    if unknown:
        raise DataError(
            f"report data: unknown section key(s) {unknown}; valid: {list(SECTION_KEYS)}"
        )
    out = []
    for key, build in _BUILDERS.items():
        if key in data and data[key] is not None:
            try:
                built = build(data[key])
                out.extend(built if isinstance(built, list) else [built])
            except TypeError as exc:
                raise DataError(f"report data, section {key!r}: {exc}") from None
    return out
