"""Window aggregates: the event, prediction and feedback frames reduced to one row per window.

:mod:`bizmodel.monitor.kpi` evaluates its KPI formulas on these rows.

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
>>> ev = pd.DataFrame({"event_id": [1, 2], "user_id": [1, 2], "type": ["visit", "visit"],
...                    "value": [None, None], "ts": ["2026-01-01", "2026-01-02"]})
>>> window_aggregates(ev, window="2D")["active_users"].tolist()
[2.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError, DataError
from bizmodel.monitor.rollup import EventRollup, epoch_day, event_columns

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
    out["ts"] = to_utc(out["ts"], name)
    return out


def utc_timestamp(value: Any) -> pd.Timestamp:
    """One timestamp as UTC: naive values are taken as UTC, aware ones converted.

    Examples
    --------
    >>> utc_timestamp("2026-01-02T01:00:00+01:00")
    Timestamp('2026-01-02 00:00:00+0000', tz='UTC')
    >>> utc_timestamp("2026-01-02")
    Timestamp('2026-01-02 00:00:00+0000', tz='UTC')
    """
    try:  # strings as ISO 8601 only: "March 3rd" must not become year 1
        t = pd.Timestamp(
            pd.to_datetime(value, format="ISO8601") if isinstance(value, str) else value
        )
    except (TypeError, ValueError):
        raise ConfigError(
            f"{value!r} is not a timestamp; give an ISO date or time such as 2026-03-01 or "
            "2026-03-01T12:00:00+01:00"
        ) from None
    if t is pd.NaT:
        raise ConfigError(f"{value!r} is not a timestamp; give an ISO date or time")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def to_utc(ts: pd.Series, frame: str) -> pd.Series:
    """Timestamps as UTC-aware datetimes: datetimes converted (naive = UTC), strings parsed as
    ISO 8601 only, so parsing never depends on guessing.

    Examples
    --------
    >>> to_utc(pd.Series(["2026-01-01T10:00:00+01:00"]), "events").iloc[0]
    Timestamp('2026-01-01 09:00:00+0000', tz='UTC')
    """
    try:
        if pd.api.types.is_datetime64_any_dtype(ts):
            return pd.to_datetime(ts, utc=True)
        return pd.to_datetime(ts, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{frame}: column 'ts' has values that are not timestamps ({exc})"
        ) from None


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


def _kept_windows(occupied: np.ndarray, max_empty: int | None) -> np.ndarray:
    """Which windows to keep: every window with data, and the empty ones in runs of at most
    ``max_empty`` windows (a quiet day is data; months without any are a break in the log)."""
    if max_empty is None:
        return np.ones(len(occupied), dtype=bool)
    keep = occupied.copy()
    run_start = None
    for k in range(len(occupied) + 1):
        empty = k < len(occupied) and not occupied[k]
        if empty and run_start is None:
            run_start = k
        elif not empty and run_start is not None:
            if k - run_start <= max_empty:
                keep[run_start:k] = True
            run_start = None
    return keep


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
    events: pd.DataFrame | EventRollup,
    predictions: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    *,
    window: str = "1D",
    start: Any = None,
    end: Any = None,
    rating_scale: str = "auto",
    max_gap: str | None = "7D",
) -> pd.DataFrame:
    """One row of aggregates per window ``[start + k·window, start + (k+1)·window)``.

    ``start`` defaults to midnight (UTC) of the earliest timestamp; ``end`` to midnight after
    the latest. Rows outside ``[start, end)`` are ignored. ``events`` may be the store's
    daily rollups (:class:`~bizmodel.monitor.rollup.EventRollup`) for windows of whole days
    from a midnight: the same numbers without the event frame. The index is the window start; the
    columns are those listed in the module docstring, plus ``window_end`` and ``complete``.

    A window is *complete* when it ends at or before the time the data is known up to:
    ``end`` when given, else the latest timestamp in the data. So the last window of a live
    store (today, so far) and of a log that stops mid-window is partial; alerts skip it.

    Empty windows in a stretch longer than ``max_gap`` are left out, so a historical import
    followed by live events gives the windows of the data, not every empty day between (the
    window after such a break has no previous window). Shorter stretches stay, as zeros: a
    day without any event is news. ``max_gap=None`` keeps every window.

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
    max_empty = None
    if max_gap is not None:
        try:
            max_empty = int(pd.Timedelta(max_gap) // delta)
        except ValueError:
            raise ConfigError(f"max_gap {max_gap!r} is not a duration such as '7D'") from None
    rollup, ev = None, None
    if isinstance(events, EventRollup):
        rollup = events
    else:
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
    ev_ts = ev["ts"] if ev is not None else events["ts"]  # a rollup's: its first and last
    all_ts = pd.concat([ev_ts, *(f["ts"] for f in (pr, fb) if f is not None)])
    if all_ts.empty and (start is None or end is None):
        raise DataError("events, predictions and feedback are all empty; give start and end")
    origin = utc_timestamp(start) if start is not None else all_ts.min().floor("D")
    stop = utc_timestamp(end) if end is not None else all_ts.max().floor("D") + pd.Timedelta("1D")
    if stop <= origin:
        raise ConfigError(
            f"the period is empty: it starts at {origin.isoformat()} and ends at "
            f"{stop.isoformat()}; give a start before the end"
        )
    known_until = utc_timestamp(end) if end is not None else all_ts.max()
    full = _windows(origin, stop, delta)
    # window index of every row over the full range, then only the kept windows, renumbered
    day = pd.Timedelta("1D")
    if rollup is not None and (origin != origin.normalize() or delta % day):
        raise ConfigError(
            f"KPIs from the store's daily rollups need windows of whole days starting at a "
            f"midnight (UTC); got window {window!r} from {origin.isoformat()}"
        )
    raw = [
        _assign(f["ts"], origin, delta, len(full)) if f is not None else None for f in (ev, pr, fb)
    ]
    if rollup is not None:  # the windows of the days with events
        days = rollup.day_counts["day"].to_numpy(dtype=np.int64)
        k = (days - epoch_day(origin)) // (delta // day)
        raw[0] = np.where((k >= 0) & (k < len(full)), k, -1)
    occupied = np.zeros(len(full), dtype=bool)
    for w in raw:
        if w is not None:
            occupied[w[w >= 0]] = True
    # no data at all (start and end given): every window, as zeros
    keep = _kept_windows(occupied, max_empty if len(all_ts) else None)
    renumber = np.append(np.where(keep, np.cumsum(keep) - 1, -1), -1)  # [-1] maps -1 to -1
    ev_w, pr_w_all, fb_w_all = (renumber[w] if w is not None else None for w in raw)
    starts = full[keep]
    n = len(starts)
    if n == 0:
        raise DataError(
            f"no events, predictions or feedback from {origin.isoformat()} to "
            f"{stop.isoformat()}; the data runs from {all_ts.min().isoformat()} to "
            f"{all_ts.max().isoformat()}"
        )
    out = pd.DataFrame(index=starts)
    out.index.name = "window_start"
    out["window_end"] = starts + delta
    out["complete"] = out["window_end"] <= known_until

    if rollup is not None:
        cols = event_columns(
            rollup,
            renumber,
            n,
            origin_day=epoch_day(origin),
            window_days=int(delta // day),
            predictions=pr,
            prediction_windows=pr_w_all,
        )
        for name in ("new_users", "visits", "purchases", "purchasers", "revenue_usd"):
            out[name] = cols[name]
        out["churned_users"] = cols["churned_users"]
        _prediction_columns(out, pr, pr_w_all, n)
        out["active_users"] = cols["active_users"]
        _feedback_columns(out, fb, fb_w_all, pr, n, rating_scale)
        return out
    assert ev is not None and ev_w is not None
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
        assert pr_w_all is not None
        active_w = np.concatenate([active_w, pr_w_all])
        active_codes = np.concatenate([active_codes, pr_user_codes])
    _prediction_columns(out, pr, pr_w_all, n)
    out["active_users"] = _distinct(active_w, active_codes, n)
    _feedback_columns(out, fb, fb_w_all, pr, n, rating_scale)
    return out


def _prediction_columns(
    out: pd.DataFrame, pr: pd.DataFrame | None, pr_w: np.ndarray | None, n: int
) -> None:
    if pr is None or pr_w is None:
        out["predictions"], out["compute_cost_usd"] = np.zeros(n), np.zeros(n)
        out["latency_p50_ms"] = out["latency_p95_ms"] = np.full(n, np.nan)
        return
    lat = pd.to_numeric(pr["latency_ms"], errors="coerce").to_numpy(dtype=float)
    cost = pd.to_numeric(pr["cost_usd"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    out["predictions"] = _count(pr_w, n)
    out["latency_p50_ms"], out["latency_p95_ms"] = _quantiles(pr_w, lat, n, (0.5, 0.95)).T
    out["compute_cost_usd"] = _count(pr_w, n, weights=cost)


def _feedback_columns(
    out: pd.DataFrame,
    fb: pd.DataFrame | None,
    fb_w: np.ndarray | None,
    pr: pd.DataFrame | None,
    n: int,
    rating_scale: str,
) -> None:
    zeros = np.zeros(n)
    out["ratings"] = out["satisfaction_sum"] = zeros
    out["labels"] = out["abs_error_sum"] = out["correct"] = zeros
    if fb is not None:
        assert fb_w is not None
        if "rating" in fb.columns:
            rated = fb["rating"].notna().to_numpy()
            sat = normalise_ratings(fb["rating"][rated], rating_scale).to_numpy(dtype=float)
            out["ratings"] = _count(fb_w[rated], n)
            out["satisfaction_sum"] = _count(fb_w[rated], n, weights=sat)
        if "label" in fb.columns and pr is not None and "output" in pr.columns:
            _label_quality(out, fb.assign(w=fb_w), pr)


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
