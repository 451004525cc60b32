"""Window aggregates of events from daily rollups instead of an event frame.

An :class:`EventRollup` is what :func:`bizmodel.store.rollups.event_rollup` reads from the
store: event counts and value sums per UTC day and type, and *first days*: per kind of
activity (``active`` = any event but a churn, ``purchase``, ``churn``), day ``d`` and
previous day ``p``, the number ``n`` of users active in that kind on ``d`` whose previous
active day of that kind was ``p``. The number of distinct users active in the days
``[a, b)`` is then a sum over small tables, exact for any window of whole days:

    distinct(a, b) = sum of n over first days with a <= d < b and p < a

(a user is counted on their first active day of the window, the one whose previous day lies
before it). :func:`bizmodel.monitor.windows.window_aggregates` takes a rollup in place of the
event frame, for windows that start at a midnight (UTC) and last whole days.

Examples
--------
>>> import pandas as pd
>>> firsts = pd.DataFrame({"kind": ["active"] * 3, "day": [0, 1, 2],
...                        "prev_day": [NO_PREV, 0, NO_PREV], "n": [2, 1, 1]})
>>> distinct_users(firsts, "active", [0, -1], origin_day=0, window_days=3, n=1).tolist()
[3.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NO_PREV = -1_000_000_000  # "no earlier day": before every day
DAY_NS = 86_400 * 10**9

__all__ = ["NO_PREV", "EventRollup", "distinct_users", "epoch_day"]


def epoch_day(ts: pd.Timestamp) -> int:
    """Whole UTC days since 1970-01-01 of a UTC timestamp (floored).

    Examples
    --------
    >>> epoch_day(pd.Timestamp("1970-01-02T23:00", tz="UTC"))
    1
    """
    return int(ts.as_unit("ns").value // DAY_NS)


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})


@dataclass(frozen=True, eq=False)
class EventRollup:
    """The event aggregates of a period, read from the store's rollups.

    ``day`` columns are whole UTC days since 1970-01-01.
    """

    # day, type, n, value_sum: events per day and type (value_sum with NULL as 0)
    day_counts: pd.DataFrame = field(
        default_factory=lambda: _empty(
            {"day": "int64", "type": "object", "n": "float64", "value_sum": "float64"}
        )
    )
    # kind, day, prev_day, n: see the module docstring
    firsts: pd.DataFrame = field(
        default_factory=lambda: _empty(
            {"kind": "object", "day": "int64", "prev_day": "int64", "n": "float64"}
        )
    )
    min_ts: pd.Timestamp | None = None  # earliest event of the period (UTC), None if none
    max_ts: pd.Timestamp | None = None  # latest one
    # user_id, day: the event-active days of the users who also have predictions in the
    # period (their union with prediction users makes ``active_users``)
    active_days: pd.DataFrame = field(
        default_factory=lambda: _empty({"user_id": "object", "day": "int64"})
    )

    def __len__(self) -> int:
        """Number of events."""
        return int(self.day_counts["n"].sum())

    @property
    def empty(self) -> bool:
        """No event, as ``DataFrame.empty``."""
        return self.min_ts is None

    def __getitem__(self, column: str) -> pd.Series:
        """``rollup["ts"]``: the first and last event times, so code that reads the time
        range of an event frame (``frame["ts"].max()``) reads the same from a rollup."""
        if column != "ts":
            raise KeyError(f"an EventRollup has no event column {column!r}; only 'ts' (its range)")
        times = [t for t in (self.min_ts, self.max_ts) if t is not None]
        return pd.Series(times, dtype="datetime64[ns, UTC]", name="ts")


def _window_of(
    days: np.ndarray, origin_day: int, window_days: int, renumber: np.ndarray
) -> np.ndarray:
    """Kept-window index of each day (-1 outside), as ``renumber`` maps full windows."""
    full = (days - origin_day) // window_days
    n_full = len(renumber) - 1  # renumber ends with a -1 for "outside"
    inside = (days >= origin_day) & (full < n_full)
    return np.where(inside, renumber[np.where(inside, full, n_full)], -1)


def distinct_users(
    firsts: pd.DataFrame,
    kind: str,
    renumber: np.ndarray | list[int],
    *,
    origin_day: int,
    window_days: int,
    n: int,
) -> np.ndarray:
    """Distinct users active in ``kind`` per kept window (see the module docstring)."""
    rows = firsts[firsts["kind"] == kind]
    days = rows["day"].to_numpy(dtype=np.int64)
    renum = np.asarray(renumber, dtype=np.int64)
    w = _window_of(days, origin_day, window_days, renum)
    start = origin_day + (days - origin_day) // window_days * window_days
    first_in_window = rows["prev_day"].to_numpy(dtype=np.int64) < start
    m = (w >= 0) & first_in_window
    weights = rows["n"].to_numpy(dtype=float)[m]
    return np.bincount(w[m], weights=weights, minlength=n).astype(float)


def event_columns(
    rollup: EventRollup,
    renumber: np.ndarray,
    n: int,
    *,
    origin_day: int,
    window_days: int,
    predictions: pd.DataFrame | None = None,
    prediction_windows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The event columns of :func:`~bizmodel.monitor.windows.window_aggregates` per kept
    window, and ``active_users`` with the predictions' users (``prediction_windows``: their
    kept-window index)."""
    dc = rollup.day_counts
    w = _window_of(dc["day"].to_numpy(dtype=np.int64), origin_day, window_days, renumber)

    def total(event_type: str, column: str = "n") -> np.ndarray:
        m = (w >= 0) & (dc["type"] == event_type).to_numpy()
        return np.bincount(w[m], weights=dc[column].to_numpy(dtype=float)[m], minlength=n)

    opts = {"origin_day": origin_day, "window_days": window_days, "n": n}
    out = {
        "new_users": total("signup"),
        "visits": total("visit"),
        "purchases": total("purchase"),
        "purchasers": distinct_users(rollup.firsts, "purchase", renumber, **opts),
        "revenue_usd": total("purchase", "value_sum"),
        "churned_users": distinct_users(rollup.firsts, "churn", renumber, **opts),
    }
    active = distinct_users(rollup.firsts, "active", renumber, **opts)
    if predictions is not None and prediction_windows is not None:
        active += _prediction_only_users(rollup, renumber, n, predictions, prediction_windows, opts)
    out["active_users"] = active
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _prediction_only_users(
    rollup: EventRollup,
    renumber: np.ndarray,
    n: int,
    predictions: pd.DataFrame,
    prediction_windows: np.ndarray,
    opts: dict[str, int],
) -> np.ndarray:
    """Per window: users with a prediction but no event-activity in it."""
    has_user = predictions["user_id"].notna().to_numpy() & (prediction_windows >= 0)
    if not has_user.any():
        return np.zeros(n)
    users = predictions["user_id"].to_numpy()[has_user]
    ad = rollup.active_days
    aw = _window_of(
        ad["day"].to_numpy(dtype=np.int64), opts["origin_day"], opts["window_days"], renumber
    )
    codes, _ = pd.factorize(pd.Series(np.concatenate([users, ad["user_id"].to_numpy()])))
    base = np.int64(codes.max()) + 1
    p_keys = np.unique(prediction_windows[has_user].astype(np.int64) * base + codes[: len(users)])
    a_codes = codes[len(users) :]
    e_keys = aw[aw >= 0].astype(np.int64) * base + a_codes[aw >= 0]
    only = p_keys[~np.isin(p_keys, e_keys)]
    return np.bincount(only // base, minlength=n).astype(float)
