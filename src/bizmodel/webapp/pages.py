"""What the Overview, Models and Business pages show, as plain data (the Experiments pages'
is in :mod:`bizmodel.webapp.experiments`): the routes render it, the tests read it.

Every builder takes the project's :class:`~bizmodel.config.Settings` and computes what the
CLI computes for the same answer — ``monitor``'s KPIs and alerts, the registry's versions —
so a page and the command print the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from bizmodel.config import Settings
from bizmodel.report.formatting import format_value, kpi_label, kpi_unit

__all__ = [
    "PERIODS",
    "analysis_figures",
    "models_page",
    "open_store",
    "overview_page",
    "period_end",
]

PERIODS = (7, 30, 90)  # the time-range picker's choices, in days
# KPIs of served predictions: without any in the period they are zeros that mean "no model
# served", and the margin a revenue with no cost subtracted; not shown then
PREDICTION_KPIS = frozenset(
    {"prediction_volume", "latency_p50_ms", "latency_p95_ms", "compute_cost_usd",
     "cost_usd_per_1k", "gross_margin"}
)  # fmt: skip


def open_store(settings: Settings) -> Any:
    """The project's event store (the caller closes it)."""
    from bizmodel.store import EventStore

    return EventStore.open(settings.resolved_database_url())


def period_end(settings: Settings) -> dt.datetime | None:
    """Midnight after the latest event (or the analysis cut-off of a simulated run)."""
    from bizmodel.report.project import analysis_cutoff
    from bizmodel.webapp.queries import last_event_time

    store = open_store(settings)
    try:
        last = last_event_time(store)
    finally:
        store.close()
    if last is None:
        return None
    end = dt.datetime.combine(last.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    cutoff = analysis_cutoff(settings)
    if cutoff is not None and last < cutoff.to_pydatetime():
        end = cutoff.to_pydatetime()
    return end


def _change(value: float | None, previous: float | None, unit: str) -> str:
    """Change since the previous period: points for a share, relative otherwise."""
    if value is None or previous is None:
        return ""
    if unit == "share":
        return f"{(value - previous) * 100:+.1f} pts"
    if previous == 0:
        return ""
    return f"{(value - previous) / abs(previous) * 100:+.1f}%"


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def overview_page(settings: Settings, days: int) -> dict[str, Any]:
    """KPI tiles over the last ``days`` (value, change vs the ``days`` before, a daily
    sparkline) and the alerts fired on any day of the period.

    The tiles are ``bizmodel monitor --window {days}D`` over the last two such periods, so each
    KPI has exactly the current and the previous value; the sparklines and the alert history
    are the daily monitor over the period (``--window 1D``, every window evaluated).
    """
    from bizmodel.monitor.kpi import compute_kpis
    from bizmodel.monitor.snapshot import run_monitor
    from bizmodel.webapp.queries import period_frames

    end = period_end(settings)
    if end is None:
        return {"days": days, "tiles": [], "alerts": [], "end": None, "empty": True}
    span = dt.timedelta(days=days)
    store = open_store(settings)
    try:
        # the drift comparison reads the 7 days before the period's last 7 too
        since = end - max(2 * span, dt.timedelta(days=14))
        events, predictions, feedback = period_frames(store, since, end)
    finally:
        store.close()
    periods = compute_kpis(
        events, predictions, feedback, window=f"{days}D", start=end - 2 * span, end=end
    )
    daily = run_monitor(
        events, predictions, feedback, since=end - span, until=end, window="1D", all_windows=True
    )
    by_day = {k["name"]: k for k in daily.kpis.to_dict()["kpis"]}
    tiles = []
    for k in periods.to_dict()["kpis"]:
        values = [_finite(p.get("value")) for p in k["points"]]
        value = values[-1] if values else None
        previous = values[-2] if len(values) > 1 else None
        if (value is None and previous is None) or (
            predictions is None and k["name"] in PREDICTION_KPIS
        ):
            continue  # this KPI does not apply (no accuracy for a regression model)
        unit = k.get("unit") or kpi_unit(k["name"])
        spark = [_finite(p.get("value")) for p in by_day.get(k["name"], {}).get("points", [])]
        tiles.append(
            {
                "name": k["name"],
                "label": kpi_label(k["name"], unit),
                "value": value,
                "text": format_value(value, unit),
                "previous": format_value(previous, unit),
                "change": _change(value, previous, unit),
                "direction": k.get("direction", "up"),
                "description": k.get("description", ""),
                "spark": sparkline(spark),
            }
        )
    alerts = sorted(
        (a.to_dict() for a in daily.alerts), key=lambda a: str(a.get("window_start")), reverse=True
    )
    return {
        "days": days,
        "start": (end - span).date().isoformat(),
        "end": end.isoformat(),
        "tiles": tiles,
        "alerts": alerts,
        "empty": False,
    }


def sparkline(values: list[float | None], width: int = 120, height: int = 28) -> str:
    """SVG polyline points of ``values`` scaled into a ``width`` x ``height`` box (gaps
    skipped; "" with fewer than two values).

    Examples
    --------
    >>> sparkline([1.0, None, 3.0], width=10, height=4)
    '0.0,3.0 10.0,1.0'
    """
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return ""
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span_x, span_y = max(len(values) - 1, 1), (hi - lo) or 1.0
    pad = 1.0  # keep the stroke inside the box
    return " ".join(
        f"{i / span_x * width:.1f},{height - pad - (v - lo) / span_y * (height - 2 * pad):.1f}"
        for i, v in pts
    )


def models_page(settings: Settings) -> list[dict[str, Any]]:
    """Every registered version: quality, inference cost per 1k (measured or given, with the
    hardware and the spread of the repeats), stage and recorded checks."""
    from bizmodel.registry import Registry

    registry = Registry(settings.resolved_registry_dir())
    usd_per_cpu_s = settings.server.cpu_usd_per_hour / 3600
    rows = []
    for name in registry.names():
        for mv in reversed(registry.versions(name)):
            nested = mv.metrics.get("dev")
            dev = nested if isinstance(nested, dict) else mv.metrics
            metric = next(
                (k for k in ("pearson", "weighted_cosine", "macro_f1", "accuracy") if k in dev),
                None,
            )
            cost = mv.inference_cost or {}
            cpu_s = _finite(cost.get("cpu_s_per_1k_best"))
            spread = cost.get("cpu_s_per_1k_best_spread") or {}
            hw = cost.get("hardware") or {}
            rows.append(
                {
                    "name": mv.name,
                    "version": mv.version,
                    "created": mv.created,
                    "task": mv.task or "",
                    "stage": ", ".join(mv.stages) or "archived",
                    "quality_metric": metric or "",
                    "quality": _finite(dev.get(metric)) if metric else None,
                    "cpu_s_per_1k": cpu_s,
                    "cost_usd_per_1k": cpu_s * usd_per_cpu_s if cpu_s is not None else None,
                    "measured": cost.get("statistic") not in (None, "given"),
                    "cost_source": cost.get("source", ""),
                    "spread": ((float(spread["min"]), float(spread["max"])) if spread else None),
                    "repeats": cost.get("repeats"),
                    "hardware": (
                        f"{hw.get('cpu', '?')}, {hw.get('threads') or 'all'} thread(s)"
                        if hw
                        else ""
                    ),
                    "checks": sorted(mv.checks),
                }
            )
    return rows


def analysis_figures(settings: Settings) -> list[dict[str, Any]]:
    """The growth curve and the Pareto front of the project's last analysis
    (``analysis.json``, written by the flywheel and the templates), as the report draws them."""
    from bizmodel.report.project import read_analysis
    from bizmodel.report.sections import sections_from_data

    saved = read_analysis(settings)
    wanted = {k: saved[k] for k in ("growth", "pareto") if saved.get(k)}
    return [
        {"id": f"chart-{s.key}", "title": s.title, "description": s.description, "figure": f}
        for s in sections_from_data(wanted)
        for f in s.figures[:1]
    ]
