"""Gates turn audit and robustness results into the retrain policy's decisions."""

import numpy as np
import pytest

from bizmodel.errors import ConfigError
from bizmodel.monitor.retrain_policy import Decision, promotion_decision
from bizmodel.responsible.audit import AuditResult, audit_arrays
from bizmodel.responsible.gates import apply_gates, fairness_gate, robustness_gate
from bizmodel.responsible.robustness import PerturbationScore, RobustnessResult


def _audit(shift: float) -> AuditResult:
    rng = np.random.default_rng(0)
    seg = np.where(rng.random(300) < 0.5, "a", "b")
    y = rng.normal(size=300)
    pred = y + rng.normal(scale=0.2, size=300) + np.where(seg == "a", shift, 0.0)
    nums = audit_arrays("regression", y, pred, seg, n_boot=300)
    return AuditResult(model_dir="m", data="d", segment_columns=("region",), **nums)


def test_fairness_gate() -> None:
    biased = fairness_gate(_audit(0.5))
    assert biased.action == "keep_champion"
    assert any("segment 'a': mae worse" in b for b in biased.blockers)
    assert fairness_gate(_audit(0.0)).action == "promote"
    # A looser bound than the audit's lets the same model through on the metric gap.
    loose = fairness_gate(_audit(0.5), max_disparity=10.0)
    assert not any("mae worse" in b for b in loose.blockers)
    with pytest.raises(ConfigError, match="max_disparity must be >= 0"):
        fairness_gate(_audit(0.0), max_disparity=-1)


def _robust(drops: list[float]) -> RobustnessResult:
    ps = tuple(PerturbationScore(k, 0.2 + d, d, d / 0.2, 10, 0.0)
               for k, d in zip(["typo", "casing"], drops, strict=True))  # fmt: skip
    return RobustnessResult("m", "d", "regression", "mae", 10, 0.2, ps, seed=0)


def test_robustness_gate_and_apply() -> None:
    ok = robustness_gate(_robust([0.01, 0.0]), max_drop=0.05)
    bad = robustness_gate(_robust([0.08, 0.0]), max_drop=0.05)
    assert ok.action == "promote" and bad.action == "keep_champion"
    assert bad.blockers == ("typo: mae 0.2800 vs. clean 0.2000 (drop 0.0800 > 0.05)",)
    online = promotion_decision(lift=0.05, ci_low=0.01, ci_high=0.09)
    assert apply_gates(online, ok).action == "promote"
    held = apply_gates(online, ok, bad)
    assert held.action == "keep_champion" and held.blockers == bad.blockers
    assert held.reasons == online.reasons
    waiting = Decision("keep_champion", ("lift unclear",))
    assert apply_gates(waiting, ok) is waiting
    with pytest.raises(ConfigError, match="max_drop must be >= 0"):
        robustness_gate(_robust([0.0, 0.0]), max_drop=-0.1)
