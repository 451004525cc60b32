"""Monitoring sections: model versions (quality against cost), drift and fired alerts.

Each builder takes the ``to_dict()`` output of :mod:`bizmodel.monitor` or the registry and
returns a :class:`~bizmodel.report.section.Section`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import DataError
from bizmodel.report.formatting import kpi_label, plotly_format
from bizmodel.report.section import (
    _BLUE,
    _GREY,
    _ORANGE,
    _SEVERITY_COLOURS,
    Section,
    _figure,
    _layout,
    _need,
    _nums,
)

__all__ = ["alerts_section", "drift_section", "model_versions_section"]


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
        _layout(
            xaxis={
                "title": kpi_label(cost_key),
                "rangemode": "tozero",
                "tickformat": plotly_format("USD" if "usd" in cost_key else ""),
            },
            yaxis={"title": kpi_label(quality_key)},
        )
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
