"""Business and model KPIs over time windows, declared once and computed from event frames.

Each KPI is a :class:`KpiDefinition` (name, description, formula, window, good direction).
The report, the dashboard and the alert rules all use :data:`KPIS`, so a KPI means the same
thing everywhere. Computing happens in two steps: the input frames are reduced to one row of
*window aggregates* per time window (:func:`window_aggregates`), then each KPI's formula is
evaluated on a window's aggregates (and the previous window's, for rates of change).

Input frames (the event store provides exactly these columns; extra columns are ignored)
-----------------------------------------------------------------------------------------
``events``
    ``event_id`` (any), ``user_id`` (any hashable), ``type`` (str: ``signup``, ``visit``,
    ``purchase``, ``churn``, others allowed), ``value`` (float; a purchase's revenue in USD,
    ignored for other types, may be NaN), ``ts`` (datetime or ISO string; naive = UTC).
``predictions``
    ``prediction_id``, ``ts``, ``model_name`` (str), ``model_version`` (str), ``latency_ms``
    (float), ``cost_usd`` (float, compute cost of that prediction), ``user_id`` (may be
    null). Optional ``output``: the model's prediction (number or label), for live quality.
``feedback``
    ``prediction_id``, ``ts``, and ``rating`` (float in [0, 1], or 1-5 stars) and/or ``label``
    (the true target of that prediction, number or label, for live quality).

Window aggregates (one row per window)
--------------------------------------
``active_users`` distinct users with any event other than ``churn`` or any prediction;
``new_users`` signup events; ``visits``; ``purchases``; ``purchasers`` distinct purchasing
users; ``revenue_usd`` sum of purchase values; ``churned_users`` distinct users with a churn
event; ``predictions``; ``latency_p50_ms``, ``latency_p95_ms``; ``compute_cost_usd``;
``ratings`` and ``satisfaction_sum`` (ratings normalised to [0, 1]); ``labels``,
``abs_error_sum``, ``correct`` (feedback labels joined to prediction outputs by
``prediction_id``, in the window the feedback arrived: numeric outputs get
``abs_error_sum``, labels get ``correct``, the other is NaN).

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError, DataError

EVENTS_COLUMNS = ("event_id", "user_id", "type", "value", "ts")
PREDICTIONS_COLUMNS = (
    "prediction_id",
    "ts",
    "model_name",
    "model_version",
    "latency_ms",
    "cost_usd",
    "user_id",
)
FEEDBACK_COLUMNS = ("prediction_id", "ts")  # plus "rating" and/or "label"

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


# ----------------------------------------------------------------------------- validation


def _check_frame(
    df: pd.DataFrame, name: str, required: Sequence[str], optional: Sequence[str] = ()
) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {missing}; required {list(required)}, "
            f"got {list(df.columns)}"
        )
    # only the columns used: copying a frame with a text column would cost more than the KPIs
    out = df[[*required, *(c for c in optional if c in df.columns)]].copy()
    try:
        if pd.api.types.is_datetime64_any_dtype(out["ts"]):
            out["ts"] = pd.to_datetime(out["ts"], utc=True)
        else:  # strings: ISO 8601 only, so parsing never depends on guessing
            out["ts"] = pd.to_datetime(out["ts"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}: column 'ts' has values that are not timestamps ({exc})") from None
    return out


def normalise_ratings(rating: pd.Series, scale: str = "auto") -> pd.Series:
    """Ratings on a 0-1 scale: ``unit`` as is, ``five`` as ``(r - 1) / 4``; ``auto`` picks
    ``five`` when any rating is above 1.

    Examples
    --------
    >>> normalise_ratings(pd.Series([1.0, 3.0, 5.0])).tolist()
    [0.0, 0.5, 1.0]
    >>> normalise_ratings(pd.Series([0.2, 1.0])).tolist()
    [0.2, 1.0]
    """
    r = pd.to_numeric(rating, errors="coerce").astype(float)
    if scale == "auto":
        scale = "five" if (r > 1).any() else "unit"
    lo, hi = (1.0, 5.0) if scale == "five" else (0.0, 1.0)
    if scale not in ("five", "unit"):
        raise ConfigError(f"rating scale must be 'auto', 'unit' or 'five'; got {scale!r}")
    bad = r[(r < lo) | (r > hi)]
    if len(bad):
        raise DataError(
            f"feedback: column 'rating' value {bad.iloc[0]} at row {bad.index[0]} is outside "
            f"[{lo:g}, {hi:g}] ({scale} scale)"
        )
    return (r - 1.0) / 4.0 if scale == "five" else r


# ----------------------------------------------------------------------------- windows


def _windows(origin: pd.Timestamp, end: pd.Timestamp, delta: pd.Timedelta) -> pd.DatetimeIndex:
    n = max(1, math.ceil((end - origin) / delta))
    return pd.date_range(origin, periods=n, freq=delta)


def _assign(ts: pd.Series, origin: pd.Timestamp, delta: pd.Timedelta, n: int) -> np.ndarray:
    """Window index of each timestamp; -1 outside ``[origin, origin + n·delta)``."""
    ns = pd.DatetimeIndex(ts).as_unit("ns").asi8
    idx = (ns - origin.as_unit("ns").value) // delta.value
    return np.where((idx >= 0) & (idx < n), idx, -1)


def _count(w: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per window: number of rows, or the sum of ``weights``."""
    m = w >= 0
    wt = None if weights is None else weights[m]
    return np.bincount(w[m], weights=wt, minlength=n).astype(float)


def _distinct(w: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Per window: number of distinct ``codes`` (factorized ids, -1 = missing)."""
    m = (w >= 0) & (codes >= 0)
    if not m.any():
        return np.zeros(n)
    base = np.int64(codes.max()) + 1
    keys = w[m].astype(np.int64) * base + codes[m]
    if n * base <= 50_000_000:  # a bitmap of (window, id) pairs beats hashing
        seen = np.zeros(n * base, dtype=bool)
        seen[keys] = True
        return seen.reshape(n, base).sum(axis=1).astype(float)
    pairs = pd.unique(keys)
    return np.bincount(pairs // base, minlength=n).astype(float)


def _quantiles(w: np.ndarray, values: np.ndarray, n: int, qs: Sequence[float]) -> np.ndarray:
    """Per window (rows) and quantile (columns): linear interpolation as numpy's default;
    NaN for empty windows."""
    m = (w >= 0) & np.isfinite(values)
    wm, v = w[m], values[m]
    order = np.argsort(wm, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(wm, minlength=n))])
    grouped = v[order]
    res = np.full((n, len(qs)), np.nan)
    for k in range(n):
        if bounds[k + 1] > bounds[k]:
            res[k] = np.quantile(grouped[bounds[k] : bounds[k + 1]], qs)
    return res


def window_aggregates(
    events: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    *,
    window: str = "1D",
    start: Any = None,
    end: Any = None,
    rating_scale: str = "auto",
) -> pd.DataFrame:
    """One row of aggregates per window ``[start + k·window, start + (k+1)·window)``.

    ``start`` defaults to midnight (UTC) of the earliest timestamp; ``end`` to midnight after
    the latest. Rows outside ``[start, end)`` are ignored. The index is the window start; the
    columns are those listed in the module docstring, plus ``window_end`` and ``complete``
    (whether the whole window lies before ``end``).

    Examples
    --------
    >>> ev = pd.DataFrame({"event_id": [1, 2], "user_id": [1, 2], "type": ["visit", "visit"],
    ...                    "value": [None, None], "ts": ["2026-01-01", "2026-01-02"]})
    >>> window_aggregates(ev)["active_users"].tolist()
    [1.0, 1.0]
    """
    try:
        delta = pd.Timedelta(window)
    except ValueError:
        raise ConfigError(
            f"window {window!r} is not a duration such as '1h', '1D' or '7D'"
        ) from None
    if delta <= pd.Timedelta(0):
        raise ConfigError(f"window must be positive, got {window!r}")
    ev = _check_frame(events, "events", EVENTS_COLUMNS)
    pr = (
        _check_frame(predictions, "predictions", PREDICTIONS_COLUMNS, ("output",))
        if predictions is not None
        else None
    )
    fb = (
        _check_frame(feedback, "feedback", FEEDBACK_COLUMNS, ("rating", "label"))
        if feedback is not None
        else None
    )
    if fb is not None and "rating" not in fb.columns and "label" not in fb.columns:
        raise DataError(f"feedback: needs a 'rating' and/or 'label' column; got {list(fb.columns)}")
    all_ts = pd.concat([f["ts"] for f in (ev, pr, fb) if f is not None and len(f)])
    if all_ts.empty and (start is None or end is None):
        raise DataError("events, predictions and feedback are all empty; give start and end")
    origin = pd.Timestamp(start, tz="UTC") if start is not None else all_ts.min().floor("D")
    stop = (
        pd.Timestamp(end, tz="UTC")
        if end is not None
        else all_ts.max().floor("D") + pd.Timedelta("1D")
    )
    starts = _windows(origin, stop, delta)
    n = len(starts)
    out = pd.DataFrame(index=starts)
    out.index.name = "window_start"
    out["window_end"] = starts + delta
    out["complete"] = out["window_end"] <= stop
    zeros = np.zeros(n)

    ev_w = _assign(ev["ts"], origin, delta, n)
    # one factorization of user ids across events and predictions, for distinct counts
    pr_users = pr["user_id"] if pr is not None else pd.Series([], dtype=object)
    user_codes, _ = pd.factorize(pd.concat([ev["user_id"], pr_users], ignore_index=True))
    ev_users, pr_user_codes = user_codes[: len(ev)], user_codes[len(ev) :]
    type_codes, type_names = pd.factorize(ev["type"].astype(str))
    code_of = {t: i for i, t in enumerate(type_names)}

    def is_type(name: str) -> np.ndarray:
        return type_codes == code_of.get(name, -2)

    out["new_users"] = _count(np.where(is_type("signup"), ev_w, -1), n)
    out["visits"] = _count(np.where(is_type("visit"), ev_w, -1), n)
    buy = is_type("purchase")
    buy_w = np.where(buy, ev_w, -1)
    out["purchases"] = _count(buy_w, n)
    out["purchasers"] = _distinct(buy_w, ev_users, n)
    value = pd.to_numeric(ev["value"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    out["revenue_usd"] = _count(buy_w, n, weights=value)
    churn = is_type("churn")
    out["churned_users"] = _distinct(np.where(churn, ev_w, -1), ev_users, n)
    active_w, active_codes = np.where(churn, -1, ev_w), ev_users

    if pr is not None:
        pr_w = _assign(pr["ts"], origin, delta, n)
        active_w = np.concatenate([active_w, pr_w])
        active_codes = np.concatenate([active_codes, pr_user_codes])
        lat = pd.to_numeric(pr["latency_ms"], errors="coerce").to_numpy(dtype=float)
        cost = pd.to_numeric(pr["cost_usd"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        out["predictions"] = _count(pr_w, n)
        out["latency_p50_ms"], out["latency_p95_ms"] = _quantiles(pr_w, lat, n, (0.5, 0.95)).T
        out["compute_cost_usd"] = _count(pr_w, n, weights=cost)
    else:
        out["predictions"], out["compute_cost_usd"] = zeros, zeros
        out["latency_p50_ms"] = out["latency_p95_ms"] = np.full(n, np.nan)
    out["active_users"] = _distinct(active_w, active_codes, n)

    out["ratings"] = out["satisfaction_sum"] = zeros
    out["labels"] = out["abs_error_sum"] = out["correct"] = zeros
    if fb is not None:
        fb_w = _assign(fb["ts"], origin, delta, n)
        if "rating" in fb.columns:
            rated = fb["rating"].notna().to_numpy()
            sat = normalise_ratings(fb["rating"][rated], rating_scale).to_numpy(dtype=float)
            out["ratings"] = _count(fb_w[rated], n)
            out["satisfaction_sum"] = _count(fb_w[rated], n, weights=sat)
        if "label" in fb.columns and pr is not None and "output" in pr.columns:
            _label_quality(out, fb.assign(w=fb_w), pr)
    return out


def _label_quality(out: pd.DataFrame, fb: pd.DataFrame, pr: pd.DataFrame) -> None:
    # feedback is attributed to the window in which the feedback arrived
    joined = fb[fb["label"].notna()].merge(
        pr[["prediction_id", "output"]], on="prediction_id", how="inner"
    )
    if joined.empty:
        return
    n, w = len(out), joined["w"].to_numpy()
    out["labels"] = _count(w, n)
    lab = pd.to_numeric(joined["label"], errors="coerce")
    pred = pd.to_numeric(joined["output"], errors="coerce")
    # numeric outputs (regression) get an error, labels (classification) an accuracy
    if lab.notna().all() and pred.notna().all():
        out["abs_error_sum"] = _count(w, n, weights=(lab - pred).abs().to_numpy(dtype=float))
        out["correct"] = np.full(n, np.nan)
    else:
        same = (joined["label"].astype(str) == joined["output"].astype(str)).to_numpy(dtype=float)
        out["correct"] = _count(w, n, weights=same)
        out["abs_error_sum"] = np.full(n, np.nan)


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
        """The latest value of each KPI, one per line."""
        lines = [f"{'kpi':<20}{'window':>7}{'latest':>16}  unit"]
        for d in self.definitions:
            v = self.latest(d.name)
            lines.append(f"{d.name:<20}{d.window:>7}{v:>16.6g}  {d.unit}")
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
    events: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    *,
    kpis: Iterable[str | KpiDefinition] | None = None,
    window: str | None = None,
    start: Any = None,
    end: Any = None,
    rating_scale: str = "auto",
) -> KpiReport:
    """Compute KPIs per time window from the event, prediction and feedback frames.

    Parameters
    ----------
    events, predictions, feedback : DataFrame
        Frames with the columns in the module docstring; predictions and feedback optional
        (their KPIs are then 0 or NaN).
    kpis : names or definitions, optional
        Which KPIs; all of :data:`KPIS` by default.
    window : str, optional
        Override every KPI's own window (e.g. ``"7D"``).
    start, end : timestamp-like, optional
        Range of windows; see :func:`window_aggregates`.

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
            )
            cache[w] = (agg, [{str(k): v for k, v in r.items()} for r in agg.to_dict("records")])
        agg, records = cache[w]
        for i, (s, rec) in enumerate(zip(agg.index, records, strict=True)):
            value = d.compute(rec, records[i - 1] if i else None)
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
