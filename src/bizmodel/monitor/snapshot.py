"""One monitoring pass: KPIs, input and prediction drift, and the alerts they fire.

:func:`run_monitor` is what ``bizmodel monitor [--since ...] [--json]`` calls once the event
store hands it the three frames (columns in :mod:`bizmodel.monitor.windows`).

Drift compares two periods of predictions: the *current* one is the last ``drift_days`` days
before ``until``, the *reference* the ``drift_days`` days before that. Features: text length
in characters and tokens (when predictions have a ``text`` column), the embedding projection
(when an ``embed`` callable is given), and the model's ``output`` (prediction drift).

Examples
--------
>>> from bizmodel.simulate.market import MarketConfig, simulate_market
>>> m = simulate_market(MarketConfig(days=14, seed=0, long_text_from_day=7))
>>> result = run_monitor(m.events, m.predictions, m.feedback)
>>> result.drift.feature("length_tokens").severity
'major'
>>> sorted({a.rule for a in result.alerts})
['input drift (major)']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError
from bizmodel.monitor.alerts import DEFAULT_RULES, Alert, Rule, evaluate_rules
from bizmodel.monitor.drift import (
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    embedding_drift,
    prediction_drift,
    text_drift,
)
from bizmodel.monitor.kpi import KpiReport, compute_kpis
from bizmodel.monitor.rollup import EventRollup
from bizmodel.monitor.windows import to_utc, utc_timestamp

Embed = Callable[[Sequence[str]], Any]  # texts -> array (n, d)


@dataclass(frozen=True, eq=False)
class MonitorResult:
    """KPIs, drift (None when a period had no predictions) and fired alerts."""

    kpis: KpiReport
    drift: DriftReport | None
    alerts: tuple[Alert, ...]
    reference_period: tuple[str, str] | None  # ISO [start, end) of the drift reference
    current_period: tuple[str, str] | None

    def summary(self) -> str:
        """KPIs, drift and alerts as text."""
        parts = [self.kpis.summary()]
        if self.drift is not None and self.reference_period and self.current_period:
            parts.append(
                f"Drift of {self.current_period[0]}..{self.current_period[1]} vs. "
                f"{self.reference_period[0]}..{self.reference_period[1]}\n{self.drift.summary()}"
            )
        else:
            parts.append("Drift: not computed (no predictions in one of the periods)")
        if self.alerts:
            parts.append(
                "Alerts:\n" + "\n".join(f"  [{a.severity}] {a.message}" for a in self.alerts)
            )
        else:
            parts.append("Alerts: none")
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """``{"kpis", "drift", "alerts", "reference_period", "current_period"}``; ``kpis``,
        ``drift`` and ``alerts`` are also valid report section inputs."""
        return {
            "kpis": self.kpis.to_dict(),
            "drift": self.drift.to_dict() if self.drift is not None else None,
            "alerts": [a.to_dict() for a in self.alerts],
            "reference_period": list(self.reference_period) if self.reference_period else None,
            "current_period": list(self.current_period) if self.current_period else None,
        }

    def report_data(self) -> dict[str, Any]:
        """Inputs for :func:`bizmodel.report.sections.sections_from_data` (alerts, kpis, drift)."""
        d = self.to_dict()
        return {k: d[k] for k in ("alerts", "kpis", "drift") if d[k] is not None}


def _drift_periods(
    predictions: pd.DataFrame, until: pd.Timestamp, days: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str], tuple[str, str]]:
    ts = to_utc(predictions["ts"], "predictions")
    span = pd.Timedelta(days=days)
    cur = (ts >= until - span) & (ts < until)
    ref = (ts >= until - 2 * span) & (ts < until - span)
    iso = lambda t: t.isoformat()  # noqa: E731
    return (
        predictions[ref.to_numpy()],
        predictions[cur.to_numpy()],
        (iso(until - 2 * span), iso(until - span)),
        (iso(until - span), iso(until)),
    )


def run_monitor(
    events: pd.DataFrame | EventRollup,
    predictions: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    *,
    since: Any = None,
    until: Any = None,
    window: str | None = None,
    drift_days: int = 7,
    rules: Sequence[Rule] = DEFAULT_RULES,
    all_windows: bool = False,
    embed: Embed | None = None,
    thresholds: DriftThresholds | None = None,
) -> MonitorResult:
    """Compute KPIs since ``since``, drift of the last ``drift_days`` vs. the days before, and
    evaluate ``rules`` on both.

    Parameters
    ----------
    events, predictions, feedback : DataFrame
        The KPI input frames; ``events`` may be the store's daily rollups
        (:class:`~bizmodel.monitor.rollup.EventRollup`).
    since, until : timestamp-like, optional
        KPI windows start at ``since`` (default: the first day in the data) and end at
        ``until`` (default: midnight after the last timestamp); drift periods end at ``until``.
    window : str, optional
        KPI window override (``"1D"``, ``"7D"``).
    drift_days : int
        Length of each drift period in days.
    rules : sequence of rules
        Alert rules; :data:`~bizmodel.monitor.alerts.DEFAULT_RULES` by default.
    all_windows : bool
        Evaluate KPI rules on every window, not just the latest.
    embed : callable, optional
        ``embed(texts) -> (n, d) array``, e.g. the served model's sentence embeddings; adds
        embedding drift.
    """
    if drift_days < 1:
        raise ConfigError(f"drift_days must be >= 1, got {drift_days}")
    kpis = compute_kpis(events, predictions, feedback, window=window, start=since, end=until)
    stop = kpis.table["end"].max() if until is None else utc_timestamp(until)
    drift: DriftReport | None = None
    ref_period = cur_period = None
    if predictions is not None and len(predictions):
        ref, cur, ref_period, cur_period = _drift_periods(predictions, stop, drift_days)
        if len(ref) and len(cur):
            drift = _drift(ref, cur, embed, thresholds)
    alerts = evaluate_rules(rules, kpis=kpis, drift=drift, all_windows=all_windows)
    return MonitorResult(kpis, drift, tuple(alerts), ref_period, cur_period)


def _drift(
    ref: pd.DataFrame, cur: pd.DataFrame, embed: Embed | None, thresholds: DriftThresholds | None
) -> DriftReport | None:
    t = thresholds or DriftThresholds()
    feats: list[FeatureDrift] = []
    if "text" in ref.columns:
        rt, ct = ref["text"].astype(str).tolist(), cur["text"].astype(str).tolist()
        feats.extend(text_drift(rt, ct, thresholds=t).features)
        if embed is not None:
            feats.append(
                embedding_drift(np.asarray(embed(rt)), np.asarray(embed(ct)), thresholds=t)
            )
    if "output" in ref.columns:
        feats.append(
            prediction_drift(
                ref["output"].to_numpy(),
                cur["output"].to_numpy(),
                name="model_output",
                thresholds=t,
            )
        )
    return DriftReport(tuple(feats), t) if feats else None
