"""What the Monitoring page shows: drift per feature and the model's KPIs, as plain data.

Everything is :func:`bizmodel.monitor.snapshot.run_monitor` over the filtered period (the
same function as ``bizmodel monitor --since S --until U --window 1D --json``): the *current*
drift sample is the period, the *reference* the period of the same length before it. What the
page adds is the picture: the reference and current shares of each feature in the bins its
PSI and JS distance were computed on (the monitor's own binning), the distance next to its
thresholds, and pass (no material drift) or fail.

Features: the model's output (prediction drift); the length of the input text in characters
and in tokens when predictions carry a ``text`` input; the embedding (random projection of the
sentence embeddings) when the app is given an ``embed`` function, or the page is asked for it
(``embeddings=1``: :func:`bizmodel.webapp.embeddings.sentence_embedder`). KPI panels are the model's
KPIs that have data in the period: no accuracy panel for a regression model, no panel of
nulls.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from bizmodel.config import Settings
from bizmodel.report.formatting import format_number, kpi_label, kpi_unit, plotly_format
from bizmodel.report.project import with_text
from bizmodel.webapp.filters import Filters
from bizmodel.webapp.pages import resolve, store_of

__all__ = ["MODEL_KPIS", "drift_bins", "monitoring_page", "with_text"]

Embed = Callable[[Sequence[str]], Any]

# the model's KPIs, in panel order; each is drawn only when it has a finite value in the period
MODEL_KPIS = (
    "prediction_volume",
    "latency_p50_ms",
    "latency_p95_ms",
    "cost_usd_per_1k",
    "live_mae",
    "live_accuracy",
    "satisfaction",
)
COLORS = {"reference": "#8a96a3", "current": "#1f5fa8"}


def _label(lo: float | None, hi: float | None) -> str:
    """A bin ``(lo, hi]`` as people read it; the first bin holds what lies below the
    reference's minimum (its upper edge sits just below it)."""
    if lo is None:
        return f"< {format_number(hi, 3)}"
    if hi is None:
        return f"> {format_number(lo, 3)}"
    a, b = format_number(lo, 3), format_number(hi, 3)
    return a if a == b else f"{a} – {b}"


def drift_bins(reference: Any, current: Any, n_bins: int = 10) -> dict[str, Any]:
    """The bins the monitor's PSI and JS compare, with each side's share.

    Numeric samples are binned at the reference's quantiles
    (:func:`bizmodel.monitor.distances.quantile_edges`), anything else by category, exactly as
    :func:`bizmodel.monitor.drift.prediction_drift` does; ``psi(reference, current)`` of the
    returned shares is the feature's PSI.

    Examples
    --------
    >>> b = drift_bins([1.0, 2.0, 3.0, 4.0] * 5, [4.0] * 20, n_bins=2)
    >>> b["labels"], b["reference"], b["current"]
    (['< 1', '1 – 2.5', '2.5 – 4', '> 4'], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0])
    """
    import numpy as np

    from bizmodel.monitor.distances import (
        _categorical_counts,
        _finite_1d,
        _numeric_counts,
        quantile_edges,
    )

    ref_arr, cur_arr = np.asarray(reference), np.asarray(current)
    if ref_arr.dtype.kind in "biuf" and cur_arr.dtype.kind in "biuf":
        ref, cur = _finite_1d(ref_arr, "reference"), _finite_1d(cur_arr, "current")
        r, c = _numeric_counts(ref, cur, n_bins)
        edges = [float(e) for e in quantile_edges(ref, n_bins)]
        bounds = [None, *edges, None]
        labels = [_label(bounds[i], bounds[i + 1]) for i in range(len(edges) + 1)]
    else:
        r, c, labels = _categorical_counts(list(ref_arr.ravel()), list(cur_arr.ravel()))
    return {
        "labels": labels,
        "reference": [float(x) for x in r / r.sum()],
        "current": [float(x) for x in c / c.sum()],
    }


def _figure(bins: dict[str, Any], periods: tuple[str, str]) -> dict[str, Any]:
    data = [
        {
            "type": "bar",
            "name": f"{side} ({period})",
            "x": bins["labels"],
            "y": bins[side],
            "marker": {"color": COLORS[side]},
            "hovertemplate": "%{x}: %{y:.1%}<extra>" + side + "</extra>",
        }
        for side, period in zip(("reference", "current"), periods, strict=True)
    ]
    layout = {
        "barmode": "group",
        "height": 300,
        "margin": {"l": 56, "r": 16, "t": 8, "b": 8},
        # bins are categories: a label such as "2" must not turn the axis numeric
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": {"title": {"text": "share of predictions"}, "tickformat": ".0%"},
        "legend": {"orientation": "h", "y": -0.4, "yanchor": "top"},
    }
    return {"data": data, "layout": layout}


def _verdict(feature: dict[str, Any], thresholds: dict[str, float]) -> dict[str, Any]:
    passed = feature["severity"] == "none"
    return {
        "passed": passed,
        "text": "pass" if passed else f"fail: {feature['severity']} drift",
        "psi_threshold": thresholds["psi_moderate"],
        "js_threshold": thresholds["js_moderate"],
    }


def _samples(ref: pd.DataFrame, cur: pd.DataFrame, name: str) -> tuple[Any, Any] | None:
    from bizmodel.monitor.drift import text_length_features

    if name == "model_output":
        return ref["output"].to_numpy(), cur["output"].to_numpy()
    if name in ("length_chars", "length_tokens") and "text" in ref.columns:
        r = text_length_features(ref["text"].astype(str).tolist())[name]
        c = text_length_features(cur["text"].astype(str).tolist())[name]
        return r, c
    return None  # the embedding: a summary over projected dimensions, no one histogram


def _kpi_panels(kpis: dict[str, Any], served: bool) -> list[dict[str, Any]]:
    panels = []
    for k in kpis["kpis"]:
        if k["name"] not in MODEL_KPIS or not served:
            continue
        points = [
            (p["start"], float(p["value"]))
            for p in k["points"]
            if isinstance(p.get("value"), int | float) and math.isfinite(p["value"])
        ]
        if not points:
            continue  # no data: no panel (a regression model has no accuracy)
        unit = k.get("unit") or kpi_unit(k["name"])
        x, y = [str(t)[:10] for t, _ in points], [v for _, v in points]
        fmt = plotly_format(unit)
        figure = {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": x,
                    "y": y,
                    "line": {"color": COLORS["current"]},
                    "hovertemplate": "%{x}: %{y:" + fmt + "}<extra></extra>",
                }
            ],
            "layout": {
                "height": 220,
                "margin": {"l": 16, "r": 16, "t": 8, "b": 40},
                # the label is the panel's heading; ticks like $0.0000337 need the room
                "yaxis": {"tickformat": fmt, "automargin": True},
            },
        }
        order = MODEL_KPIS.index(k["name"])
        panels.append(
            {
                "name": k["name"],
                "label": kpi_label(k["name"], unit),
                "unit": unit,
                "latest": y[-1],
                "figure": figure,
                "order": order,
            }
        )
    return sorted(panels, key=lambda p: p["order"])


def monitoring_page(
    settings: Settings, filters: Filters, embed: Embed | None = None, store: Any = None
) -> dict[str, Any]:
    """Drift of the filtered period against the period before it, per feature with its
    histogram and verdict, the model's KPI panels that have data, and the drift alerts.

    The numbers are ``run_monitor(..., since, until, window="1D", drift_days=DAYS)`` of the
    period's (and the segment's) rows: for the last 7 days, exactly what ``bizmodel monitor
    --since S --until U --window 1D --json`` prints for the model output's drift.
    """
    from bizmodel.monitor.snapshot import _drift_periods, run_monitor
    from bizmodel.webapp.queries import period_frames

    days = filters.n_days
    empty = {"days": days, "features": [], "panels": [], "alerts": [], "drift": None}
    with store_of(settings, store) as db:
        scope = resolve(settings, db, filters)
        if scope is None:
            return {**empty, "empty": True, "scope": "", "why": "no events yet"}
        since, until = scope.since, scope.until
        events, predictions, feedback = period_frames(
            db, until - 2 * scope.span, until, scope.users
        )
    predictions = None if predictions is None else with_text(predictions)
    if events.empty or not (events["ts"] >= since).any():
        why = "no event in this period" + (" and segment" if filters.segment else "")
        return {**empty, "empty": True, "scope": scope.describe(), "why": why}
    result = run_monitor(
        events,
        predictions,
        feedback,
        since=since,
        until=until,
        window="1D",
        drift_days=days,
        embed=embed,
    )
    out = result.to_dict()
    features = []
    drift = out["drift"]
    if drift is not None and predictions is not None:
        ref, cur, ref_p, cur_p = _drift_periods(predictions, pd.Timestamp(until), days)
        periods = (_span(ref_p), _span(cur_p))
        for f in drift["features"]:
            samples = _samples(ref, cur, f["name"])
            bins = drift_bins(*samples) if samples is not None else None
            features.append(
                {
                    **f,
                    "verdict": _verdict(f, drift["thresholds"]),
                    "bins": bins,
                    "figure": _figure(bins, periods) if bins is not None else None,
                }
            )
    return {
        **empty,
        "empty": False,
        "scope": scope.describe(),
        "why": "",
        "drift": drift,
        "features": features,
        "reference_period": out["reference_period"],
        "current_period": out["current_period"],
        "panels": _kpi_panels(out["kpis"], predictions is not None),
        "alerts": out["alerts"],
        "served": predictions is not None,
        "has_text": predictions is not None and "text" in predictions.columns,
        "embedding": embed is not None,
    }


def _span(period: tuple[str, str]) -> str:
    start, end = (dt.datetime.fromisoformat(p) for p in period)
    last = (end - dt.timedelta(microseconds=1)).date()
    return f"{start.date():%b %d} – {last:%b %d}"
