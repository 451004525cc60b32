"""Simulated members of the health programme, with a documented ground truth for the levers.

The programme is sold per member and month (``price_usd``) and runs outreach with a daily
budget (``outreach_usd``: recruitment campaigns and care-coordinator calls). An A/B test runs
over *arms* with fixed prices; the outreach budget is drawn uniformly per arm and day so that
its effect is identifiable.

Ground truth (:class:`EnrolmentTruth`)::

    new_members[arm, day] ~ Poisson(mu),
    log mu = b + a_price · price_usd + a_outreach · outreach_usd
    b = 3.0,  a_price = -0.06 per USD a month,  a_outreach = 0.0008 per USD of daily budget

What happens to each new member (documented so the KPIs can be checked):

* the member's record is scored by the served risk model (``POST /v1/risk``);
* ``floor(outreach_usd / cost_per_contact_usd)`` members of the arm-day, highest predicted
  risk first, get a call; each called member engages with probability ``engage_prob``;
* an engaged member's true 12-month risk falls by the share ``relative_risk_reduction``, so
  the *predicted-risk reduction* KPI is ``Σ_engaged p̂ · relative_risk_reduction`` (the same
  sum over the true risks is the realised reduction the simulation knows);
* every member pays ``price_usd`` a month for ``contract_months`` months.

Examples
--------
>>> t = simulate_enrolment(ProgrammeConfig(days=2, seed=1))
>>> list(t.columns)  # doctest: +NORMALIZE_WHITESPACE
['arm', 'day', 'date', 'price_usd', 'outreach_usd', 'expected_new_users', 'new_users']
>>> len(t)
6
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError

#: The levers in the order of :meth:`EnrolmentTruth.coefficients`.
LEVERS = ("price_usd", "outreach_usd")


@dataclass(frozen=True)
class EnrolmentTruth:
    """``log E[new members per arm-day] = intercept + Σ coefficient · lever``."""

    intercept: float = 3.0
    price_usd: float = -0.06  # per USD of the monthly price per member
    outreach_usd: float = 0.0008  # per USD of daily outreach budget

    def coefficients(self) -> dict[str, float]:
        """``{"intercept": b, "price_usd": ..., "outreach_usd": ...}``."""
        return asdict(self)


@dataclass(frozen=True)
class ProgrammeConfig:
    """Everything the simulation depends on; the same config and seed give the same data."""

    prices_usd: tuple[float, ...] = (8.0, 12.0, 16.0)  # one arm per price: A, B, C, ...
    days: int = 28
    start: str = "2026-01-05"  # first day (UTC)
    outreach_usd_range: tuple[float, float] = (100.0, 800.0)  # daily budget per arm, uniform
    truth: EnrolmentTruth = field(default_factory=EnrolmentTruth)
    cost_per_contact_usd: float = 40.0  # one care-coordinator call
    engage_prob: float = 0.5  # chance a called member joins the programme's coaching
    relative_risk_reduction: float = 0.25  # share of an engaged member's risk removed
    contract_months: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ConfigError(f"days must be >= 1, got {self.days}")
        if not self.prices_usd or any(p <= 0 for p in self.prices_usd):
            raise ConfigError(f"prices_usd must be positive numbers, got {self.prices_usd}")
        lo, hi = self.outreach_usd_range
        if not 0 <= lo <= hi:
            raise ConfigError(f"outreach_usd_range must satisfy 0 <= low <= high, got {(lo, hi)}")

    @property
    def arms(self) -> list[str]:
        """Arm names: A, B, C, ... one per price."""
        return [chr(ord("A") + i) for i in range(len(self.prices_usd))]


def simulate_enrolment(config: ProgrammeConfig) -> pd.DataFrame:
    """The per-arm per-day table: levers, expected and drawn new members (``new_users``)."""
    t = config.truth
    rng = np.random.default_rng(config.seed)
    start = pd.Timestamp(config.start, tz="UTC")
    rows = []
    for arm, price in zip(config.arms, config.prices_usd, strict=True):
        outreach = rng.uniform(*config.outreach_usd_range, size=config.days)
        mu = np.exp(t.intercept + t.price_usd * price + t.outreach_usd * outreach)
        drawn = rng.poisson(mu)
        for d in range(config.days):
            rows.append(
                (
                    arm,
                    d,
                    start + pd.Timedelta(days=d),
                    price,
                    float(outreach[d]),
                    float(mu[d]),
                    int(drawn[d]),
                )
            )
    cols = ["arm", "day", "date", "price_usd", "outreach_usd", "expected_new_users", "new_users"]
    return pd.DataFrame(rows, columns=cols)


def outreach_outcome(
    prob: np.ndarray,
    true_risk: np.ndarray,
    outreach_usd: float,
    config: ProgrammeConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Who of one arm-day's members is called and engages, and the risk each engaged removes.

    Examples
    --------
    >>> cfg = ProgrammeConfig(cost_per_contact_usd=10.0, engage_prob=1.0)
    >>> out = outreach_outcome(np.array([0.1, 0.5, 0.3]), np.array([0.2, 0.4, 0.3]), 20.0, cfg,
    ...                        np.random.default_rng(0))
    >>> out["contacted"].tolist(), out["predicted_reduction"].tolist()
    ([False, True, True], [0.0, 0.125, 0.075])
    """
    n = prob.size
    k = min(int(outreach_usd // config.cost_per_contact_usd), n)
    contacted = np.zeros(n, dtype=bool)
    contacted[np.argsort(-prob, kind="stable")[:k]] = True
    engaged = contacted & (rng.random(n) < config.engage_prob)
    share = config.relative_risk_reduction
    return {
        "contacted": contacted,
        "engaged": engaged,
        "predicted_reduction": np.where(engaged, prob * share, 0.0),
        "true_reduction": np.where(engaged, true_risk * share, 0.0),
    }


__all__ = [
    "LEVERS",
    "EnrolmentTruth",
    "ProgrammeConfig",
    "outreach_outcome",
    "simulate_enrolment",
]
