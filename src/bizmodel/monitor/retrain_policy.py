"""The retrain policy's decisions, as pure functions: when to retrain, when to promote.

The loop around them (fine-tune a challenger, evaluate it offline, run the online A/B test
through the serving assignment, analyse it with the experiments engine) lives with those
capabilities; these functions only decide, and say why, so every decision can be logged.

* :func:`should_retrain` — retrain when inputs drifted, live quality fell, or enough new
  feedback labels arrived; never without enough labels to train on.
* :func:`offline_gate` — the challenger must beat the champion on the held-out set by at
  least ``min_gain`` before it may face users.
* :func:`promotion_decision` — after the online test, promote only if the interval of the
  relative lift on the declared metric lies wholly on the good side of ``min_lift``.

Examples
--------
>>> promotion_decision(lift=0.05, ci_low=0.01, ci_high=0.09).action
'promote'
>>> promotion_decision(lift=0.05, ci_low=-0.01, ci_high=0.11).action
'keep_champion'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from bizmodel.errors import ConfigError
from bizmodel.monitor.drift import DriftReport
from bizmodel.monitor.kpi import KpiReport

_RANK = {"none": 0, "moderate": 1, "major": 2}


@dataclass(frozen=True)
class RetrainPolicy:
    """When to retrain and when to promote; saved with every decision it produces."""

    drift_severity: Literal["moderate", "major"] = "major"  # drift at or above this triggers
    quality_kpi: str = "live_mae"  # KPI of live quality from feedback labels
    quality_direction: Literal["up", "down"] = "down"  # which way is good for quality_kpi
    max_quality_loss: float = 0.10  # relative worsening vs. the baseline that triggers
    labels_trigger: int = 1000  # this many new labels trigger a retrain on their own
    min_labels: int = 200  # fewer new labels than this: never retrain (nothing to learn from)
    min_offline_gain: float = 0.0  # challenger must beat champion offline by more than this
    min_lift: float = 0.0  # online: the lift's interval must lie above this (relative)

    def __post_init__(self) -> None:
        if self.drift_severity not in ("moderate", "major"):
            raise ConfigError(
                f"RetrainPolicy.drift_severity must be 'moderate' or 'major', "
                f"got {self.drift_severity!r}"
            )
        if self.min_labels < 0 or self.labels_trigger < self.min_labels:
            raise ConfigError(
                f"RetrainPolicy: need 0 <= min_labels <= labels_trigger, got "
                f"min_labels={self.min_labels}, labels_trigger={self.labels_trigger}"
            )


@dataclass(frozen=True)
class Decision:
    """What to do and why; ``blockers`` say why a triggered action is held back."""

    action: str  # "retrain", "wait", "evaluate_online", "reject", "promote", "keep_champion"
    reasons: tuple[str, ...] = ()
    blockers: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line per reason and blocker."""
        lines = [f"Decision: {self.action}"]
        lines += [f"  because {r}" for r in self.reasons]
        lines += [f"  blocked: {b}" for b in self.blockers]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what the decision log stores)."""
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "blockers": list(self.blockers),
        }


def should_retrain(
    policy: RetrainPolicy | None = None,
    *,
    drift: DriftReport | None = None,
    kpis: KpiReport | None = None,
    baseline_quality: float | None = None,
    new_labels: int = 0,
) -> Decision:
    """Decide whether to fine-tune a challenger now.

    Triggers: a drift feature at ``policy.drift_severity`` or worse; the latest
    ``policy.quality_kpi`` worse than ``baseline_quality`` by more than
    ``policy.max_quality_loss`` (relative); ``new_labels >= policy.labels_trigger``.
    Blocker: ``new_labels < policy.min_labels``.

    Examples
    --------
    >>> should_retrain(new_labels=1500).action
    'retrain'
    >>> d = should_retrain(new_labels=10, baseline_quality=0.2)
    >>> d.action, d.reasons
    ('wait', ())
    """
    p = policy or RetrainPolicy()
    reasons: list[str] = []
    if drift is not None:
        for f in drift.features:
            if _RANK[f.severity] >= _RANK[p.drift_severity]:
                reasons.append(
                    f"input drift: {f.name} is {f.severity} (PSI {f.psi:.3f}, JS {f.js:.3f})"
                )
    if kpis is not None and baseline_quality is not None:
        now = kpis.latest(p.quality_kpi)
        if not math.isnan(now) and baseline_quality != 0:
            change = (now - baseline_quality) / abs(baseline_quality)
            loss = change if p.quality_direction == "down" else -change
            if loss > p.max_quality_loss:
                reasons.append(
                    f"live quality: {p.quality_kpi} {now:.4g} vs. baseline {baseline_quality:.4g} "
                    f"({loss:+.1%} worse, limit {p.max_quality_loss:.0%})"
                )
    if new_labels >= p.labels_trigger:
        reasons.append(f"{new_labels} new feedback labels (trigger {p.labels_trigger})")
    blockers = []
    if reasons and new_labels < p.min_labels:
        blockers.append(f"only {new_labels} new labels; need {p.min_labels} to train on")
    action = "retrain" if reasons and not blockers else "wait"
    return Decision(action, tuple(reasons), tuple(blockers))


def offline_gate(
    champion: float,
    challenger: float,
    *,
    metric: str = "metric",
    higher_is_better: bool = True,
    policy: RetrainPolicy | None = None,
) -> Decision:
    """Let the challenger into an online test only if it beats the champion offline.

    ``gain = (challenger - champion)`` (negated when lower is better) must exceed
    ``policy.min_offline_gain``.

    Examples
    --------
    >>> offline_gate(0.76, 0.79, metric="weighted_cosine").action
    'evaluate_online'
    >>> offline_gate(0.20, 0.25, metric="mse", higher_is_better=False).action
    'reject'
    """
    p = policy or RetrainPolicy()
    gain = (challenger - champion) if higher_is_better else (champion - challenger)
    text = f"{metric}: challenger {challenger:.4g} vs. champion {champion:.4g} (gain {gain:+.4g})"
    if gain > p.min_offline_gain:
        return Decision("evaluate_online", (text,))
    return Decision("reject", (f"{text} does not exceed {p.min_offline_gain:g}",))


def promotion_decision(
    *,
    lift: float,
    ci_low: float,
    ci_high: float,
    metric: str = "metric",
    higher_is_better: bool = True,
    confidence: float = 0.95,
    policy: RetrainPolicy | None = None,
) -> Decision:
    """Promote the challenger only if the online lift's interval clears ``policy.min_lift``.

    ``lift`` is the challenger's relative lift over the champion on the declared metric, with
    its ``confidence`` interval ``[ci_low, ci_high]`` from the experiments engine. For a metric
    where lower is better the interval must lie below ``-min_lift``.

    Examples
    --------
    >>> promotion_decision(lift=-0.04, ci_low=-0.07, ci_high=-0.01, metric="churn",
    ...                    higher_is_better=False).action
    'promote'
    """
    if not ci_low <= lift <= ci_high:
        raise ConfigError(
            f"promotion_decision: need ci_low <= lift <= ci_high, got {ci_low}, {lift}, {ci_high}"
        )
    p = policy or RetrainPolicy()
    interval = f"{metric} lift {lift:+.2%} ({confidence:.0%} CI {ci_low:+.2%} to {ci_high:+.2%})"
    wins = ci_low > p.min_lift if higher_is_better else ci_high < -p.min_lift
    if wins:
        return Decision("promote", (f"{interval} clears {p.min_lift:+.2%}",))
    return Decision("keep_champion", (f"{interval} does not clear {p.min_lift:+.2%}",))
