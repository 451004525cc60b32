"""What the Overview, Models and Business pages show, as plain data (the Experiments pages'
is in :mod:`bizmodel.webapp.experiments`): the routes render it, the tests read it.

Every builder takes the project's :class:`~bizmodel.config.Settings` and computes what the
CLI computes for the same answer — ``monitor``'s KPIs and alerts, the registry's versions —
so a page and the command print the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bizmodel.config import Settings
from bizmodel.report.formatting import format_value, kpi_label, kpi_unit
from bizmodel.webapp.filters import PERIODS, Filters

__all__ = [
    "PERIODS",
    "Scope",
    "analysis_figures",
    "models_page",
    "observed_period",
    "open_store",
    "overview_page",
    "period_end",
    "resolve",
    "store_of",
]
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


@contextmanager
def store_of(settings: Settings, store: Any = None) -> Iterator[Any]:
    """``store`` when given (the app's, shared by its requests: left open), else the
    project's, opened here and closed on exit. Every builder takes its ``store`` this way.

    Examples
    --------
    >>> import tempfile
    >>> settings = Settings.load(tempfile.mkdtemp())
    >>> with store_of(settings) as mine:
    ...     with store_of(settings, mine) as same:
    ...         same is mine
    True
    """
    if store is not None:
        yield store
        return
    own = open_store(settings)
    try:
        yield own
    finally:
        own.close()


def period_end(settings: Settings, store: Any = None) -> dt.datetime | None:
    """Midnight after the latest event (or the analysis cut-off of a simulated run), read
    from ``store`` (:func:`store_of`)."""
    from bizmodel.report.project import analysis_cutoff
    from bizmodel.webapp.queries import last_event_time

    with store_of(settings, store) as db:
        last = last_event_time(db)
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


@dataclass(frozen=True)
class Scope:
    """The filters made concrete: ``[since, until)`` in UTC and the segment's users."""

    filters: Filters
    since: dt.datetime
    until: dt.datetime
    users: Any  # a select of user ids (queries.segment_users), or None for everyone

    @property
    def span(self) -> dt.timedelta:
        return self.until - self.since

    def describe(self) -> str:
        """``'2026-03-01 to 2026-03-30, segment arm=B'`` (the last day inclusive)."""
        last = (self.until - dt.timedelta(microseconds=1)).date()
        out = f"{self.since.date().isoformat()} to {last.isoformat()}"
        return out + (f", segment {self.filters.segment}" if self.filters.segment else "")


def resolve(settings: Settings, store: Any, filters: Filters) -> Scope | None:
    """``filters`` on the project's store; None when a preset range has no event to end at.

    Raises
    ------
    ConfigError
        The segment names neither an experiment nor an event property.
    """
    from bizmodel.webapp.queries import segment_users

    period = filters.period(None if filters.custom else period_end(settings, store))
    if period is None:
        return None
    parts = filters.segment_parts()
    users = segment_users(store, *parts) if parts else None
    return Scope(filters, period[0], period[1], users)


def overview_page(
    settings: Settings, filters: Filters, margin: dict[str, Any] | None = None, store: Any = None
) -> dict[str, Any]:
    """KPI tiles over the filtered period (value, change vs the period of the same length
    before it, a daily sparkline) and the alerts fired on any day of the period.

    The tiles are ``bizmodel monitor --window {days}D`` over the last two such periods, so each
    KPI has exactly the current and the previous value; the sparklines and the alert history
    are the daily monitor over the period (``--window 1D``, every window evaluated). With a
    segment, only its users' events, predictions and feedback count. ``margin`` (the plan's
    margin with every cost, :func:`bizmodel.webapp.costs.plan_margin`) replaces the
    compute-only gross margin when the spec declares costs the store does not record.
    """
    from bizmodel.monitor.kpi import compute_kpis
    from bizmodel.monitor.snapshot import run_monitor
    from bizmodel.webapp.queries import period_frames

    days = filters.n_days
    nothing = {"days": days, "tiles": [], "alerts": [], "end": None, "margin": margin}
    with store_of(settings, store) as db:
        scope = resolve(settings, db, filters)
        if scope is None:
            return {**nothing, "empty": True, "scope": ""}
        end, span = scope.until, scope.span
        # the drift comparison reads the 7 days before the period's last 7 too
        since = end - max(2 * span, dt.timedelta(days=14))
        events, predictions, feedback = period_frames(db, since, end, scope.users)
    if events.empty or not (events["ts"] >= scope.since).any():
        return {**nothing, "empty": False, "none_here": True, "scope": scope.describe()}
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
        if k["name"] == "gross_margin" and margin and margin["beyond_compute"]:
            continue  # compute only, while the spec knows more costs: the margin card instead
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
                "description": k.get("description", "")
                + (" Costs included: compute." if k["name"] == "gross_margin" else ""),
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
        "scope": scope.describe(),
        "tiles": tiles,
        "alerts": alerts,
        "margin": margin,
        "empty": False,
        "none_here": False,
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


def models_page(
    settings: Settings, filters: Filters | None = None, store: Any = None
) -> list[dict[str, Any]]:
    """Every registered version: quality, inference cost per 1k (measured or given, with the
    hardware and the spread of the repeats), stage, recorded checks, and what it served in the
    filtered period (predictions, mean latency, compute cost; to the segment's users)."""
    from bizmodel.registry import Registry
    from bizmodel.webapp.queries import served_by_version

    registry = Registry(settings.resolved_registry_dir())
    served = {}
    with store_of(settings, store) as db:
        scope = resolve(settings, db, filters or Filters())
        if scope is not None:
            served = served_by_version(db, scope.since, scope.until, scope.users)
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
                    "served": served.get((mv.name, mv.version)),
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


def observed_period(
    settings: Settings, filters: Filters, store: Any = None
) -> dict[str, Any] | None:
    """Revenue, active users and compute cost of the filtered period (one KPI window of its
    length, ``bizmodel monitor --window {days}D``), for the Business page to set beside the
    plan; None without events in it."""
    from bizmodel.monitor.kpi import compute_kpis
    from bizmodel.webapp.queries import period_frames

    with store_of(settings, store) as db:
        scope = resolve(settings, db, filters)
        if scope is None:
            return None
        frames = period_frames(db, scope.since, scope.until, scope.users)
    if frames[0].empty:
        return None
    report = compute_kpis(
        *frames, window=f"{filters.n_days}D", start=scope.since, end=scope.until
    ).to_dict()
    wanted = ("revenue_usd", "active_users", "compute_cost_usd")
    values = {
        k["name"]: _finite(k["points"][-1].get("value")) if k["points"] else None
        for k in report["kpis"]
        if k["name"] in wanted
    }
    return {"scope": scope.describe(), **{k: values.get(k) for k in wanted}}
