"""Alert rules over KPIs and drift, evaluated to :class:`Alert` records; optional webhook.

Three kinds of rule, each a frozen dataclass:

* :class:`ThresholdRule` — a KPI compared with a fixed value (``churn_rate > 0.05``).
* :class:`RelativeChangeRule` — a KPI's change vs. the previous window,
  ``change = (v_k - v_{k-1}) / |v_{k-1}|``, flagged when it drops (or rises) by at least
  ``threshold`` (``active_users`` drops by 20%).
* :class:`DriftRule` — a drift distance (PSI or JS) of one feature, or of any, at or above a
  threshold.

:func:`evaluate_rules` returns the alerts; :func:`rules_from_dicts` builds rules from plain
dicts (a TOML table); :func:`post_webhook` POSTs alerts as JSON.

Examples
--------
>>> import pandas as pd
>>> from bizmodel.monitor.kpi import compute_kpis
>>> ev = pd.DataFrame({"event_id": [1, 2, 3], "user_id": [1, 2, 1], "type": ["visit"] * 3,
...                    "value": [None] * 3, "ts": ["2026-01-01", "2026-01-01", "2026-01-02"]})
>>> rule = RelativeChangeRule("users falling", "active_users", threshold=0.2, direction="drop")
>>> kpis = compute_kpis(ev, end="2026-01-03")  # data known complete up to the end of Jan 2
>>> [a.message for a in evaluate_rules([rule], kpis=kpis)]
['users falling: active_users changed by -50.0% (1 vs. 2) in window 1D starting 2026-01-02']
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bizmodel.errors import ConfigError, NotificationError
from bizmodel.monitor.drift import DriftReport
from bizmodel.monitor.kpi import KpiReport

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Alert:
    """One fired rule."""

    rule: str  # the rule's name
    kind: str  # "threshold", "relative_change" or "drift"
    subject: str  # KPI name or drift feature
    value: float  # the observed value (KPI value, relative change, or distance)
    threshold: float
    window: str | None  # KPI window ("1D"), None for drift
    window_start: str | None  # ISO start of the window, None for drift
    severity: str  # "warning" or "critical", from the rule
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class ThresholdRule:
    """Fire when ``kpi <op> threshold`` in the latest window (every window with ``all_windows``)."""

    name: str
    kpi: str
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    severity: str = "warning"

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ConfigError(f"rule {self.name!r}: op {self.op!r} is not one of {sorted(_OPS)}")


@dataclass(frozen=True)
class RelativeChangeRule:
    """Fire when a KPI moves by at least ``threshold`` (0.2 = 20%) vs. the window before."""

    name: str
    kpi: str
    threshold: float
    direction: Literal["drop", "rise", "any"] = "drop"
    severity: str = "warning"

    def __post_init__(self) -> None:
        if self.direction not in ("drop", "rise", "any"):
            raise ConfigError(
                f"rule {self.name!r}: direction {self.direction!r} is not 'drop', 'rise' or 'any'"
            )
        if not self.threshold > 0:
            raise ConfigError(f"rule {self.name!r}: threshold must be > 0, got {self.threshold}")


@dataclass(frozen=True)
class DriftRule:
    """Fire when a feature's drift ``metric`` (``"psi"`` or ``"js"``) is >= ``threshold``.

    ``feature=None`` checks every feature in the drift report.
    """

    name: str
    metric: Literal["psi", "js"] = "psi"
    threshold: float = 0.25
    feature: str | None = None
    severity: str = "warning"

    def __post_init__(self) -> None:
        if self.metric not in ("psi", "js"):
            raise ConfigError(f"rule {self.name!r}: metric {self.metric!r} is not 'psi' or 'js'")


Rule = ThresholdRule | RelativeChangeRule | DriftRule
_RULE_TYPES: dict[str, type] = {
    "threshold": ThresholdRule,
    "relative_change": RelativeChangeRule,
    "drift": DriftRule,
}


#: A starting set of rules; every threshold is an effect size a product team would act on.
DEFAULT_RULES: tuple[Rule, ...] = (
    RelativeChangeRule("active users falling", "active_users", threshold=0.2, direction="drop"),
    RelativeChangeRule("churn rising", "churn_rate", threshold=0.5, direction="rise"),
    RelativeChangeRule("satisfaction falling", "satisfaction", threshold=0.1, direction="drop"),
    RelativeChangeRule("latency rising", "latency_p95_ms", threshold=0.5, direction="rise"),
    RelativeChangeRule(
        "cost per prediction rising", "cost_usd_per_1k", threshold=0.5, direction="rise"
    ),
    ThresholdRule("gross margin low", "gross_margin", "<", 0.5, severity="critical"),
    DriftRule("input drift (major)", metric="psi", threshold=0.25),
)


def rules_from_dicts(items: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Rules from plain dicts with a ``type`` key (``threshold``, ``relative_change``, ``drift``).

    Examples
    --------
    >>> rules_from_dicts([{"type": "threshold", "name": "slow", "kpi": "latency_p95_ms",
    ...                    "op": ">", "threshold": 200}])[0].op
    '>'
    """
    out: list[Rule] = []
    for i, item in enumerate(items):
        kind = item.get("type")
        if kind not in _RULE_TYPES:
            raise ConfigError(f"alert rule {i}: type {kind!r} is not one of {sorted(_RULE_TYPES)}")
        kwargs = {k: v for k, v in item.items() if k != "type"}
        try:
            out.append(_RULE_TYPES[kind](**kwargs))
        except TypeError as exc:
            raise ConfigError(f"alert rule {i} ({kind}): {exc}") from None
    return out


def _fmt(v: float) -> str:
    return f"{v:.6g}"


@dataclass(frozen=True)
class _Point:
    start: str  # ISO date (or time when not at midnight)
    value: float
    complete: bool
    follows_previous: bool  # the previous point is the window just before (no break)


def _kpi_points(kpis: KpiReport, name: str, rule: str) -> tuple[str, list[_Point]]:
    rows = kpis.table[kpis.table["kpi"] == name]
    if rows.empty:
        raise ConfigError(
            f"alert rule {rule!r}: KPI {name!r} is not in the KPI report; "
            f"it has {sorted(set(kpis.table['kpi']))}"
        )
    window = str(rows["window"].iloc[0])
    starts, ends = list(rows["start"]), list(rows["end"])
    points = [
        _Point(
            s.date().isoformat() if s == s.normalize() else s.isoformat(),
            float(v),
            bool(c),
            k > 0 and ends[k - 1] == s,
        )
        for k, (s, v, c) in enumerate(zip(starts, rows["value"], rows["complete"], strict=True))
    ]
    return window, points


def _kpi_alerts(rule: Rule, kpis: KpiReport, all_windows: bool) -> list[Alert]:
    assert not isinstance(rule, DriftRule)
    window, points = _kpi_points(kpis, rule.kpi, rule.name)
    # a partial window (today so far, a log that stops mid-day) never alerts
    complete = [k for k, p in enumerate(points) if p.complete]
    out = []
    for k in complete if all_windows else complete[-1:]:
        start, v = points[k].start, points[k].value
        where = f"in window {window} starting {start}"
        if isinstance(rule, ThresholdRule):
            if math.isnan(v) or not _OPS[rule.op](v, rule.threshold):
                continue
            msg = f"{rule.name}: {rule.kpi} = {_fmt(v)} {rule.op} {_fmt(rule.threshold)} {where}"
            out.append(
                Alert(
                    rule.name,
                    "threshold",
                    rule.kpi,
                    v,
                    rule.threshold,
                    window,
                    start,
                    rule.severity,
                    msg,
                )
            )
            continue
        if not points[k].follows_previous:
            continue
        prev = points[k - 1].value
        if math.isnan(v) or math.isnan(prev) or prev == 0:
            continue
        change = (v - prev) / abs(prev)
        fired = {
            "drop": change <= -rule.threshold,
            "rise": change >= rule.threshold,
            "any": abs(change) >= rule.threshold,
        }[rule.direction]
        if fired:
            msg = (
                f"{rule.name}: {rule.kpi} changed by {change:+.1%} ({_fmt(v)} vs. {_fmt(prev)}) "
                f"{where}"
            )
            out.append(
                Alert(
                    rule.name,
                    "relative_change",
                    rule.kpi,
                    change,
                    rule.threshold,
                    window,
                    start,
                    rule.severity,
                    msg,
                )
            )
    return out


def _drift_alerts(rule: DriftRule, drift: DriftReport) -> list[Alert]:
    feats = drift.features if rule.feature is None else (drift.feature(rule.feature),)
    out = []
    for f in feats:
        v = f.psi if rule.metric == "psi" else f.js
        if v >= rule.threshold:
            msg = (
                f"{rule.name}: {f.name} drifted, {rule.metric.upper()} = {v:.4f} >= "
                f"{_fmt(rule.threshold)} ({f.severity})"
            )
            out.append(
                Alert(rule.name, "drift", f.name, v, rule.threshold, None, None, rule.severity, msg)
            )
    return out


def evaluate_rules(
    rules: Sequence[Rule],
    *,
    kpis: KpiReport | None = None,
    drift: DriftReport | None = None,
    all_windows: bool = False,
) -> list[Alert]:
    """Evaluate ``rules`` on a KPI report and/or a drift report.

    KPI rules look at the latest complete window only, unless ``all_windows`` (then every
    complete window, e.g. to mark alerts on a trend chart); partial windows never alert, and a
    rate of change needs the window just before (none after a break in the data). A rule
    whose input is not given is skipped; a rule naming a KPI or feature the report lacks
    raises :class:`~bizmodel.errors.ConfigError`.

    Examples
    --------
    >>> import numpy as np
    >>> from bizmodel.monitor.drift import detect_drift
    >>> rng = np.random.default_rng(0)
    >>> d = detect_drift({"len": rng.normal(0, 1, 500)}, {"len": rng.normal(2, 1, 500)})
    >>> [a.subject for a in evaluate_rules([DriftRule("input drift")], drift=d)]
    ['len']
    """
    out: list[Alert] = []
    for rule in rules:
        if isinstance(rule, DriftRule):
            if drift is not None:
                out.extend(_drift_alerts(rule, drift))
        elif isinstance(rule, ThresholdRule | RelativeChangeRule):
            if kpis is not None:
                out.extend(_kpi_alerts(rule, kpis, all_windows))
        else:
            raise ConfigError(f"not an alert rule: {rule!r}")
    return out


def post_webhook(
    url: str,
    alerts: Sequence[Alert],
    *,
    timeout_s: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> int:
    """POST ``{"alerts": [alert.to_dict(), ...]}`` as JSON to ``url``; return the status code.

    Raises :class:`~bizmodel.errors.NotificationError` when the target cannot be reached or
    answers with a non-2xx status, and :class:`~bizmodel.errors.ConfigError` for a URL that is
    not http(s).

    Examples
    --------
    >>> post_webhook("ftp://example.invalid/hook", [])
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: webhook URL must start with http:// or https://; got 'ftp://example.invalid/hook'
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"webhook URL must start with http:// or https://; got {url!r}")
    import httpx

    payload = {"alerts": [a.to_dict() for a in alerts]}
    try:
        response = httpx.post(url, json=payload, timeout=timeout_s, headers=dict(headers or {}))
    except httpx.HTTPError as exc:
        raise NotificationError(f"webhook {url}: could not deliver ({exc})") from None
    if not 200 <= response.status_code < 300:
        raise NotificationError(
            f"webhook {url}: answered HTTP {response.status_code}, expected 2xx"
        )
    return response.status_code
