"""Business and model KPIs over time windows, declared once and computed from event frames.

Each KPI is a :class:`KpiDefinition` (name, description, formula, window, good direction).
The report, the dashboard and the alert rules all use :data:`KPIS`, so a KPI means the same
thing everywhere. Computing happens in two steps: the input frames are reduced to one row of
*window aggregates* per time window (:func:`bizmodel.monitor.windows.window_aggregates`,
whose docstring lists the input columns), then each KPI's formula is
evaluated on a window's aggregates (and the previous window's, for rates of change).

Examples
--------
>>> import pandas as pd
>>> events = pd.DataFrame({
...     "event_id": [1, 2, 3], "user_id": ["u1", "u2", "u1"],
...     "type": ["signup", "visit", "purchase"], "value": [None, None, 10.0],
...     "ts": ["2026-01-01 09:00", "2026-01-01 10:00", "2026-01-01 11:00"]})
>>> report = compute_kpis(events, kpis=["active_users", "revenue_usd", "arpu_usd"])
>>> report.latest("arpu_usd")
5.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.rollup import EventRollup
from bizmodel.monitor.windows import (
    EVENTS_COLUMNS,
    FEEDBACK_COLUMNS,
    PREDICTIONS_COLUMNS,
    normalise_ratings,
    window_aggregates,
)

__all__ = [
    "EVENTS_COLUMNS",
    "FEEDBACK_COLUMNS",
    "KPIS",
    "PREDICTIONS_COLUMNS",
    "KpiDefinition",
    "KpiReport",
    "compute_kpis",
    "normalise_ratings",
    "window_aggregates",
]

Aggregates = Mapping[str, float]
Formula = Callable[[Aggregates, Aggregates | None], float]


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


@dataclass(frozen=True)
class KpiDefinition:
    """One KPI: what it means, how it is computed and which way is good."""

    name: str  # identifier, with its unit where it has one (revenue_usd)
    description: str  # one sentence for people
    formula: str  # the formula in words over window aggregates, shown in reports
    compute: Formula  # (this window's aggregates, previous window's or None) -> value
    window: str = "1D"  # pandas Timedelta string: "1h", "1D", "7D"
    direction: Literal["up", "down"] = "up"  # which way is good
    unit: str = ""  # "users", "USD", "ms", "share", ...

    def to_dict(self) -> dict[str, Any]:
        """Everything but the callable."""
        return {
            "name": self.name,
            "description": self.description,
            "formula": self.formula,
            "window": self.window,
            "direction": self.direction,
            "unit": self.unit,
        }


def _growth(cur: Aggregates, prev: Aggregates | None) -> float:
    if prev is None:
        return math.nan
    return _ratio(cur["active_users"] - prev["active_users"], prev["active_users"])


def _churn(cur: Aggregates, prev: Aggregates | None) -> float:
    return math.nan if prev is None else _ratio(cur["churned_users"], prev["active_users"])


def _margin(a: Aggregates, _: Aggregates | None) -> float:
    return _ratio(a["revenue_usd"] - a["compute_cost_usd"], a["revenue_usd"])


_DEFS = [
    KpiDefinition(
        "active_users",
        "Distinct users active in the window.",
        "active_users",
        lambda a, _: a["active_users"],
        unit="users",
    ),
    KpiDefinition(
        "user_growth_rate",
        "Relative change of active users vs. the previous window.",
        "(active_users - prev.active_users) / prev.active_users",
        _growth,
        unit="share",
    ),
    KpiDefinition(
        "new_users",
        "Sign-ups in the window.",
        "new_users",
        lambda a, _: a["new_users"],
        unit="users",
    ),
    KpiDefinition(
        "conversion_rate",
        "Share of active users who purchased.",
        "purchasers / active_users",
        lambda a, _: _ratio(a["purchasers"], a["active_users"]),
        unit="share",
    ),
    KpiDefinition(
        "revenue_usd",
        "Purchase revenue.",
        "sum(purchase.value)",
        lambda a, _: a["revenue_usd"],
        unit="USD",
    ),
    KpiDefinition(
        "arpu_usd",
        "Average revenue per active user.",
        "revenue_usd / active_users",
        lambda a, _: _ratio(a["revenue_usd"], a["active_users"]),
        unit="USD",
    ),
    KpiDefinition(
        "churn_rate",
        "Churned users as a share of the previous window's active users.",
        "churned_users / prev.active_users",
        _churn,
        direction="down",
        unit="share",
    ),
    KpiDefinition(
        "satisfaction",
        "Mean feedback rating on a 0-1 scale (1-5 stars mapped).",
        "satisfaction_sum / ratings",
        lambda a, _: _ratio(a["satisfaction_sum"], a["ratings"]),
        unit="share",
    ),
    KpiDefinition(
        "prediction_volume",
        "Predictions served.",
        "predictions",
        lambda a, _: a["predictions"],
        unit="predictions",
    ),
    KpiDefinition(
        "latency_p50_ms",
        "Median prediction latency.",
        "median(latency_ms)",
        lambda a, _: a["latency_p50_ms"],
        direction="down",
        unit="ms",
    ),
    KpiDefinition(
        "latency_p95_ms",
        "95th percentile of prediction latency.",
        "quantile(latency_ms, 0.95)",
        lambda a, _: a["latency_p95_ms"],
        direction="down",
        unit="ms",
    ),
    KpiDefinition(
        "compute_cost_usd",
        "Compute cost of all predictions.",
        "sum(cost_usd)",
        lambda a, _: a["compute_cost_usd"],
        direction="down",
        unit="USD",
    ),
    KpiDefinition(
        "cost_usd_per_1k",
        "Compute cost per 1000 predictions.",
        "1000 * compute_cost_usd / predictions",
        lambda a, _: _ratio(1000 * a["compute_cost_usd"], a["predictions"]),
        direction="down",
        unit="USD",
    ),
    KpiDefinition(
        "gross_margin",
        "Revenue left after compute cost, as a share of revenue.",
        "(revenue_usd - compute_cost_usd) / revenue_usd",
        _margin,
        unit="share",
    ),
    KpiDefinition(
        "live_mae",
        "Mean absolute error of numeric predictions against feedback labels.",
        "abs_error_sum / labels",
        lambda a, _: _ratio(a["abs_error_sum"], a["labels"]),
        direction="down",
        unit="target units",
    ),
    KpiDefinition(
        "live_accuracy",
        "Share of predictions equal to their feedback label.",
        "correct / labels",
        lambda a, _: _ratio(a["correct"], a["labels"]),
        unit="share",
    ),
]

#: Every KPI bizmodel knows, by name.
KPIS: dict[str, KpiDefinition] = {d.name: d for d in _DEFS}


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True, eq=False)
class KpiReport:
    """KPI values per window: ``table`` has columns kpi, window, start, end, value, complete."""

    table: pd.DataFrame
    definitions: tuple[KpiDefinition, ...]

    def series(self, name: str) -> pd.Series:
        """Values of KPI ``name`` indexed by window start."""
        self._definition(name)
        rows = self.table[self.table["kpi"] == name]
        return pd.Series(rows["value"].to_numpy(), index=pd.DatetimeIndex(rows["start"]), name=name)

    def latest(self, name: str, *, complete_only: bool = False) -> float:
        """Value in the last window (the last complete one with ``complete_only``)."""
        self._definition(name)
        rows = self.table[self.table["kpi"] == name]
        if complete_only:
            rows = rows[rows["complete"]]
        return float(rows["value"].iloc[-1]) if len(rows) else math.nan

    def _definition(self, name: str) -> KpiDefinition:
        for d in self.definitions:
            if d.name == name:
                return d
        raise DataError(f"KpiReport has no KPI {name!r}; has {[d.name for d in self.definitions]}")

    def summary(self) -> str:
        """The value of each KPI in its latest complete window, one per line."""
        lines = [f"{'kpi':<20}{'window':>7}{'latest':>16}  unit"]
        for d in self.definitions:
            v = self.latest(d.name, complete_only=True)
            lines.append(f"{d.name:<20}{d.window:>7}{v:>16.6g}  {d.unit}")
        partial = self.table[~self.table["complete"].astype(bool)]
        if len(partial):
            first = partial["start"].min()
            lines.append(f"(windows from {first.isoformat()} on are partial: shown, never alerted)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"kpis": [{name, description, formula, window, direction, unit, points}]}`` with
        points ``[{start, end, value, complete}]`` (ISO times, NaN as None); the report's
        ``kpi_trends_section`` takes this."""
        kpis = []
        for d in self.definitions:
            rows = self.table[self.table["kpi"] == d.name]
            points = [
                {
                    "start": s.isoformat(),
                    "end": e.isoformat(),
                    "value": None if pd.isna(v) else float(v),
                    "complete": bool(c),
                }
                for s, e, v, c in zip(
                    rows["start"], rows["end"], rows["value"], rows["complete"], strict=True
                )
            ]
            kpis.append({**d.to_dict(), "points": points})
        return {"kpis": kpis}


def _resolve(kpis: Iterable[str | KpiDefinition] | None) -> list[KpiDefinition]:
    if kpis is None:
        return list(KPIS.values())
    out = []
    for k in kpis:
        if isinstance(k, KpiDefinition):
            out.append(k)
        elif k in KPIS:
            out.append(KPIS[k])
        else:
            raise ConfigError(f"unknown KPI {k!r}; known: {sorted(KPIS)}")
    return out


def compute_kpis(
    events: pd.DataFrame | EventRollup,
    predictions: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    *,
    kpis: Iterable[str | KpiDefinition] | None = None,
    window: str | None = None,
    start: Any = None,
    end: Any = None,
    rating_scale: str = "auto",
    max_gap: str | None = "7D",
) -> KpiReport:
    """Compute KPIs per time window from the event, prediction and feedback frames.

    Parameters
    ----------
    events, predictions, feedback : DataFrame
        Frames with the columns in the module docstring; predictions and feedback optional
        (their KPIs are then 0 or NaN). ``events`` may be the store's daily rollups
        (:func:`bizmodel.store.rollups.event_rollup`) for windows of whole days.
    kpis : names or definitions, optional
        Which KPIs; all of :data:`KPIS` by default.
    window : str, optional
        Override every KPI's own window (e.g. ``"7D"``).
    start, end : timestamp-like, optional
        Range of windows; see :func:`window_aggregates`, which also says when a window is
        complete (the last one is partial unless ``end`` is given and reached).
    max_gap : str or None
        Empty stretches longer than this are left out (see :func:`window_aggregates`).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"event_id": [1, 2, 3], "user_id": [1, 2, 3],
    ...                    "type": ["visit"] * 3, "value": [None] * 3,
    ...                    "ts": ["2026-01-01", "2026-01-02", "2026-01-02"]})
    >>> compute_kpis(ev, kpis=["user_growth_rate"]).series("user_growth_rate").tolist()
    [nan, 1.0]
    """
    defs = _resolve(kpis)
    rows: list[dict[str, Any]] = []
    cache: dict[str, tuple[pd.DataFrame, list[dict[str, Any]]]] = {}
    for d in defs:
        w = window or d.window
        if w not in cache:
            agg = window_aggregates(
                events,
                predictions,
                feedback,
                window=w,
                start=start,
                end=end,
                rating_scale=rating_scale,
                max_gap=max_gap,
            )
            cache[w] = (agg, [{str(k): v for k, v in r.items()} for r in agg.to_dict("records")])
        agg, records = cache[w]
        for i, (s, rec) in enumerate(zip(agg.index, records, strict=True)):
            # a rate of change needs the window just before, not one across a break
            prev = records[i - 1] if i and records[i - 1]["window_end"] == s else None
            value = d.compute(rec, prev)
            rows.append(
                {
                    "kpi": d.name,
                    "window": w,
                    "start": s,
                    "end": rec["window_end"],
                    "value": float(value),
                    "complete": bool(rec["complete"]),
                }
            )
    if window is not None:
        defs = [KpiDefinition(**{**d.__dict__, "window": window}) for d in defs]
    table = pd.DataFrame(rows, columns=["kpi", "window", "start", "end", "value", "complete"])
    return KpiReport(table, tuple(defs))
