"""Promotion gates: refuse a retrain candidate that is unfair or brittle.

Each gate returns the retrain policy's :class:`~bizmodel.monitor.retrain_policy.Decision`:
``"promote"`` when the gate does not object, ``"keep_champion"`` with ``blockers`` naming
every violation. :func:`apply_gates` folds them into the policy's promotion decision, so a
challenger that won its A/B test is still kept out when a gate blocks.

Examples
--------
>>> from bizmodel.monitor.retrain_policy import Decision
>>> online = Decision("promote", ("lift +3% clears 0%",))
>>> apply_gates(online, Decision("keep_champion", (), ("typo drop 0.2 > 0.1",))).action
'keep_champion'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bizmodel.errors import ConfigError
from bizmodel.monitor.retrain_policy import Decision

if TYPE_CHECKING:
    from bizmodel.responsible.audit import AuditResult
    from bizmodel.responsible.robustness import RobustnessResult


def fairness_gate(result: AuditResult, max_disparity: float | None = None) -> Decision:
    """Block promotion when a segment is worse than the rest by more than ``max_disparity``.

    A segment blocks when the lower end of its gap's bootstrap interval exceeds the bound
    (so a small segment's noise does not block), or when it was flagged for calibration.
    Without ``max_disparity`` the audit's own ``max_difference`` is the bound.
    """
    bound = result.max_difference if max_disparity is None else max_disparity
    if bound < 0:
        raise ConfigError(f"max_disparity must be >= 0, got {bound}")
    blockers = []
    for s in result.segments:
        if s.n < result.min_size:
            continue
        if s.gap_ci[0] > bound:
            blockers.append(
                f"segment {s.segment!r}: {result.metric} worse than the rest by {s.gap:.4f} "
                f"(CI {s.gap_ci[0]:.4f} to {s.gap_ci[1]:.4f}) > {bound:g}"
            )
        blockers += [f"segment {s.segment!r}: {r}" for r in s.reasons if "calibration" in r
                     or "estimate" in r or "ECE" in r]  # fmt: skip
    cols = ", ".join(result.segment_columns)
    if blockers:
        return Decision("keep_champion", (f"fairness audit by {cols}",), tuple(blockers))
    return Decision(
        "promote",
        (f"fairness audit by {cols}: no segment's {result.metric} gap exceeds {bound:g}",),
    )


def robustness_gate(result: RobustnessResult, max_drop: float) -> Decision:
    """Block promotion when any perturbation worsens the metric by more than ``max_drop``.

    Examples
    --------
    >>> from bizmodel.responsible.robustness import PerturbationScore, RobustnessResult
    >>> r = RobustnessResult("m", "d.csv", "regression", "mae", 10, 0.2,
    ...     (PerturbationScore("typo", 0.35, 0.15, 0.75, 10, 0.1),), seed=0)
    >>> robustness_gate(r, max_drop=0.1).blockers
    ('typo: mae 0.3500 vs. clean 0.2000 (drop 0.1500 > 0.1)',)
    """
    if max_drop < 0:
        raise ConfigError(f"max_drop must be >= 0, got {max_drop}")
    blockers = tuple(
        f"{p.kind}: {result.metric} {p.value:.4f} vs. clean {result.clean:.4f} "
        f"(drop {p.drop:.4f} > {max_drop:g})"
        for p in result.perturbations
        if p.drop > max_drop
    )
    if blockers:
        return Decision("keep_champion", ("robustness check",), blockers)
    worst = result.worst
    return Decision(
        "promote",
        (f"robustness: largest drop {worst.drop:.4f} ({worst.kind}) within {max_drop:g}",),
    )


def apply_gates(decision: Decision, *gates: Decision) -> Decision:
    """The policy's ``decision`` held back by any blocking gate (other actions unchanged)."""
    if decision.action != "promote":
        return decision
    blockers = tuple(b for g in gates if g.action != "promote" for b in g.blockers)
    if not blockers:
        return Decision("promote", decision.reasons + tuple(r for g in gates for r in g.reasons))
    return Decision("keep_champion", decision.reasons, decision.blockers + blockers)
