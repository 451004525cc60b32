"""Simulated subscribers of the advisor app, with a documented ground truth.

The product is freemium: a free tier of ``free_limit`` advice requests per month, a paid
subscription at ``price_usd`` per month, and advice computed by a small or a large sentiment
model (``model``: quality and cost per request in :data:`MODEL_SIZES`, both measured, see
:mod:`~bizmodel.templates.advisor.measured`). An A/B test runs over arms, each a setting of
(price, free limit, model size); per arm and day:

Ground truth (:class:`SubscriberTruth`)::

    signups[arm, day]     ~ Poisson(exp(b + a_p · price_usd + a_f · free_limit + a_q · quality))
    subscribers[arm, day] ~ Binomial(signups, exp(c + c_p · price_usd + c_f · free_limit
                                                   + c_q · quality))

with ``b = 2.2, a_p = −0.03 /USD, a_f = +0.03 /request, a_q = 2.0``: a generous free tier
and a better model bring more sign-ups, a higher price fewer; and ``c = −1.3,
c_p = −0.025 /USD, c_f = −0.035 /request, c_q = 1.0``: a generous free tier lowers the share
who upgrade (below 0.6 on the lever ranges, so the log link is a probability). A
subscriber stays ``1 / churn`` months, ``churn = 0.04 + 0.3 · (1 − quality)``.

``quality`` is on one scale for both sizes: the model's test weighted cosine on SemEval-2017
headlines, as measured (MiniLM 0.762, MPNet 0.845): the simulated subscribers respond to the
quality that benchmark measures. The MiniLM that ``bizmodel run`` fine-tunes on a few hundred
generated headlines stands in for the small model when serving; its own Pearson on the sample
headlines is reported beside, not fed to the simulation (another scale, another data set).

Both rates are log-linear in the levers, so :func:`bizmodel.growth.fit_growth` (Poisson; the
conversion with the sign-ups as exposure) recovers them.

Examples
--------
>>> sim = simulate_subscribers(SubscriberConfig(days=3, seed=1))
>>> sorted(sim.arm_days.columns)[:4]
['arm', 'conversion', 'date', 'day']
>>> len(sim.arm_days), set(sim.events["type"]) <= {"signup", "purchase"}
(24, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import ConfigError
from bizmodel.templates.advisor.measured import MEASURED

if TYPE_CHECKING:
    import pandas as pd

#: The levers the growth model is fitted on (model size enters through its quality).
LEVERS = ("price_usd", "free_limit", "model_quality")


@dataclass(frozen=True)
class ModelSize:
    """A model size as the business sees it: quality (drives growth) and cost per request."""

    name: str
    quality: float  # SemEval-2017 headlines test weighted cosine (module docstring)
    # measured, at $0.04 per CPU-hour; a run replaces "small" by its own registered model's
    # measured cost and keeps the measured large/small ratio (7.9x)
    cost_usd_per_request: float
    description: str


MODEL_SIZES = {
    name: ModelSize(name, m.quality, m.usd_per_prediction(), m.source())
    for name, m in MEASURED.items()
}


@dataclass(frozen=True)
class SubscriberTruth:
    """Log-linear sign-up and conversion coefficients (module docstring)."""

    intercept: float = 2.2
    price_usd: float = -0.03
    free_limit: float = 0.03
    model_quality: float = 2.0
    conv_intercept: float = -1.3
    conv_price_usd: float = -0.025
    conv_free_limit: float = -0.035
    conv_model_quality: float = 1.0
    churn_base: float = 0.04
    churn_quality: float = 0.3

    def growth(self) -> dict[str, float]:
        """Sign-up coefficients, named as :func:`bizmodel.growth.fit_growth` names them."""
        return {k: getattr(self, k) for k in ("intercept", *LEVERS)}

    def conversion(self) -> dict[str, float]:
        """Conversion coefficients, named as the fit names them."""
        return {
            "intercept": self.conv_intercept,
            "price_usd": self.conv_price_usd,
            "free_limit": self.conv_free_limit,
            "model_quality": self.conv_model_quality,
        }

    def churn(self, quality: float) -> float:
        """Monthly churn of subscribers for a model of this quality."""
        return self.churn_base + self.churn_quality * (1 - quality)


@dataclass(frozen=True)
class SubscriberArm:
    """One arm of the A/B test."""

    name: str
    price_usd: float
    free_limit: float
    model: str


DEFAULT_ARMS = tuple(
    SubscriberArm(f"{p}-{f}-{m}", price, free, m)
    for p, price in (("p9", 9.0), ("p19", 19.0))
    for f, free in (("f3", 3.0), ("f15", 15.0))
    for m in ("small", "large")
)


@dataclass(frozen=True)
class SubscriberConfig:
    """Days, seed, arms and truth of one simulation."""

    days: int = 28
    seed: int = 0
    start: str = "2026-01-01"
    arms: tuple[SubscriberArm, ...] = DEFAULT_ARMS
    truth: SubscriberTruth = field(default_factory=SubscriberTruth)


@dataclass(frozen=True)
class Subscribers:
    """Per arm-day levers and counts, and the event stream (one row per event)."""

    arm_days: pd.DataFrame
    events: pd.DataFrame  # event_id, user_id, type, value, ts, arm
    truth: SubscriberTruth

    def summary(self) -> str:
        """One line."""
        s = self.arm_days
        return (
            f"{int(s['signups'].sum())} sign-ups and {int(s['subscribers'].sum())} paid "
            f"subscriptions over {s['day'].nunique()} days and {s['arm'].nunique()} arms"
        )


def simulate_subscribers(config: SubscriberConfig) -> Subscribers:
    """Simulate the A/B test of :class:`SubscriberConfig` (truth in the module docstring).

    Raises
    ------
    ConfigError
        ``days < 1`` or an arm with an unknown model size.
    """
    import pandas as pd

    if config.days < 1:
        raise ConfigError(f"days must be at least 1; got {config.days}")
    rng = np.random.default_rng(config.seed)
    t = config.truth
    start = pd.Timestamp(config.start, tz="UTC")
    rows: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    for arm in config.arms:
        if arm.model not in MODEL_SIZES:
            raise ConfigError(f"arm {arm.name}: unknown model {arm.model!r}; valid: small, large")
    for day in range(config.days):
        date = start + pd.Timedelta(days=day)
        for arm in config.arms:
            q = MODEL_SIZES[arm.model].quality
            x = {"price_usd": arm.price_usd, "free_limit": arm.free_limit, "model_quality": q}
            g, c = t.growth(), t.conversion()
            mu = math.exp(g["intercept"] + sum(g[k] * x[k] for k in LEVERS))
            conv = math.exp(c["intercept"] + sum(c[k] * x[k] for k in LEVERS))
            n = int(rng.poisson(mu))
            paid = int(rng.binomial(n, conv))
            rows.append(
                {
                    "arm": arm.name,
                    "day": day,
                    "date": date.date().isoformat(),
                    "price_usd": arm.price_usd,
                    "free_limit": arm.free_limit,
                    "model": arm.model,
                    "model_quality": q,
                    "expected_signups": mu,
                    "conversion": conv,
                    "signups": n,
                    "subscribers": paid,
                }
            )
            offsets = np.sort(rng.uniform(0, 86_000, n))
            for k in range(n):
                uid = f"{arm.name}-{day}-{k}"
                ts = date + pd.Timedelta(seconds=float(offsets[k]))
                events.append((f"{uid}-s", uid, "signup", None, ts, arm.name))
                if k < paid:  # which users upgrade is random: the first `paid` of a random order
                    events.append((f"{uid}-p", uid, "purchase", arm.price_usd, ts, arm.name))
    ev = pd.DataFrame(events, columns=["event_id", "user_id", "type", "value", "ts", "arm"])
    return Subscribers(arm_days=pd.DataFrame(rows), events=ev, truth=t)


def truth_dict(truth: SubscriberTruth) -> dict[str, float]:
    """All ground-truth numbers as a flat dict (for reports and JSON)."""
    return asdict(truth)


__all__ = [
    "DEFAULT_ARMS",
    "LEVERS",
    "MODEL_SIZES",
    "ModelSize",
    "SubscriberArm",
    "SubscriberConfig",
    "SubscriberTruth",
    "Subscribers",
    "simulate_subscribers",
    "truth_dict",
]
