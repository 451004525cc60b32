"""A simulated market with known growth coefficients, for demos and for testing recovery.

An A/B test runs over *arms*, each a setting of the levers: price (``price_usd``), model
version (``small`` / ``large``, each with a ``quality``), and a daily ad budget
(``ad_spend_usd``) drawn uniformly per arm and day so its effect is identifiable.

Ground truth (:class:`GrowthTruth`; the numbers a growth model should recover)::

    new_users[arm, day] ~ Poisson(mu),
    log mu = b + a_price · price_usd + a_ad · ad_spend_usd + a_quality · model_quality
    b = 3.0,  a_price = -0.06 per USD,  a_ad = 0.0008 per USD of daily spend,
    a_quality = 2.5 per unit of quality (small 0.70, large 0.82)

With the default arms that is about 80-210 new users per arm and day.

What each user then does (documented so KPIs can be checked against it):

* active from the signup day until churn; churn hazard per day after signup is
  ``churn_base + churn_quality · (1 - quality)`` (0.02 + 0.15 · (1 - q));
* visits on the signup day, then each active day with probability ``visit_prob``;
* each visit buys with probability ``sigmoid(buy_intercept + buy_price · price_usd)``, paying
  ``price_usd``;
* each visit sends ``1 + Poisson(extra_requests)`` headlines to the model (version of the arm):
  latency is log-normal around the version's median, compute cost proportional to latency;
  the model's output is the headline's true sentiment plus noise of sd ``1 - quality``;
* each prediction gets feedback with probability ``feedback_prob``: a 1-5 star rating (higher
  for better quality) and the true sentiment as label.

Output frames follow :mod:`bizmodel.monitor.kpi`'s input schema (predictions carry two extra
columns, ``text`` and ``output``; events and predictions carry ``arm``).

Examples
--------
>>> data = simulate_market(MarketConfig(days=3, seed=1))
>>> sorted(data.arm_days.columns)[:4]
['ad_spend_usd', 'arm', 'date', 'day']
>>> len(data.arm_days)
12
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError
from bizmodel.simulate.headlines import synthetic_headlines

#: Columns of the per-arm, per-day table (the growth model's input).
ARM_DAY_COLUMNS = (
    "arm",
    "day",
    "date",
    "price_usd",
    "ad_spend_usd",
    "model_version",
    "model_quality",
    "expected_new_users",
    "new_users",
)
#: The levers in the order of :meth:`GrowthTruth.coefficients`.
LEVERS = ("price_usd", "ad_spend_usd", "model_quality")


@dataclass(frozen=True)
class ModelVersion:
    """A served model version as the market experiences it."""

    name: str
    quality: float  # in (0, 1]; drives sign-ups, churn, ratings and output noise
    latency_ms_median: float
    cost_usd_per_prediction: float  # at the median latency


MODEL_VERSIONS = {
    "small": ModelVersion(
        "small", quality=0.70, latency_ms_median=12.0, cost_usd_per_prediction=0.0005
    ),
    "large": ModelVersion(
        "large", quality=0.82, latency_ms_median=45.0, cost_usd_per_prediction=0.003
    ),
}


@dataclass(frozen=True)
class Arm:
    """One arm of the A/B test: a fixed price and model version."""

    name: str
    price_usd: float
    model_version: str  # a key of MODEL_VERSIONS


DEFAULT_ARMS = (
    Arm("A", 9.99, "small"),
    Arm("B", 9.99, "large"),
    Arm("C", 14.99, "small"),
    Arm("D", 14.99, "large"),
)


@dataclass(frozen=True)
class GrowthTruth:
    """``log E[new users per arm-day] = intercept + Σ coefficient · lever``."""

    intercept: float = 3.0
    price_usd: float = -0.06  # per USD of price
    ad_spend_usd: float = 0.0008  # per USD of daily ad spend (0.08 per 100 USD)
    model_quality: float = 2.5  # per unit of model quality

    def coefficients(self) -> dict[str, float]:
        """``{"intercept": b, "price_usd": ..., "ad_spend_usd": ..., "model_quality": ...}``."""
        return asdict(self)


@dataclass(frozen=True)
class MarketConfig:
    """Everything the simulation depends on; the same config and seed give the same data."""

    arms: tuple[Arm, ...] = DEFAULT_ARMS
    days: int = 28
    start: str = "2026-01-05"  # first day (UTC)
    ad_spend_usd_range: tuple[float, float] = (200.0, 1200.0)  # daily spend per arm, uniform
    truth: GrowthTruth = field(default_factory=GrowthTruth)
    visit_prob: float = 0.35  # chance an active user visits on a later day
    churn_base: float = 0.02  # daily churn hazard at quality 1
    churn_quality: float = 0.15  # extra hazard per unit of (1 - quality)
    buy_intercept: float = -0.5  # purchase per visit: sigmoid(buy_intercept + buy_price·price)
    buy_price: float = -0.05
    extra_requests: float = 0.5  # requests per visit: 1 + Poisson(extra_requests)
    feedback_prob: float = 0.2  # chance a prediction gets a rating and label
    long_text_from_day: int | None = None  # from this day on, headlines drift to the long style
    long_share: float = 0.8  # share of long headlines after the drift day
    seed: int = 0

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ConfigError(f"MarketConfig.days must be >= 1, got {self.days}")
        if not self.arms:
            raise ConfigError("MarketConfig.arms is empty; give at least one Arm")
        for arm in self.arms:
            if arm.model_version not in MODEL_VERSIONS:
                raise ConfigError(
                    f"arm {arm.name!r}: model_version {arm.model_version!r} is not one of "
                    f"{sorted(MODEL_VERSIONS)}"
                )
        lo, hi = self.ad_spend_usd_range
        if not 0 <= lo <= hi:
            raise ConfigError(f"ad_spend_usd_range must satisfy 0 <= low <= high, got {(lo, hi)}")


@dataclass(frozen=True, eq=False)
class MarketData:
    """The simulated market: KPI input frames, the per-arm per-day table and the truth."""

    events: pd.DataFrame  # event_id, user_id, type, value, ts, arm
    predictions: pd.DataFrame  # prediction_id, ts, model_name, model_version, latency_ms,
    # cost_usd, user_id, arm, text, output
    feedback: pd.DataFrame  # prediction_id, ts, rating (1-5), label
    arm_days: pd.DataFrame  # ARM_DAY_COLUMNS
    config: MarketConfig

    @property
    def truth(self) -> GrowthTruth:
        """The ground-truth growth coefficients."""
        return self.config.truth

    def summary(self) -> str:
        """Counts of what was simulated."""
        kinds = self.events["type"].value_counts()
        parts = ", ".join(
            f"{kinds.get(k, 0)} {k}" for k in ("signup", "visit", "purchase", "churn")
        )
        return (
            f"Simulated market: {len(self.config.arms)} arms x {self.config.days} days; "
            f"{parts}; {len(self.predictions)} predictions, {len(self.feedback)} feedback"
        )

    def to_dict(self) -> dict[str, Any]:
        """Counts, the truth and the arm-day table (records)."""
        return {
            "truth": self.truth.coefficients(),
            "n_events": len(self.events),
            "n_predictions": len(self.predictions),
            "n_feedback": len(self.feedback),
            "arm_days": self.arm_days.assign(date=self.arm_days["date"].astype(str)).to_dict(
                "records"
            ),
        }


def simulate_new_users(config: MarketConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The per-arm per-day table: levers, expected and drawn new users.

    Examples
    --------
    >>> t = simulate_new_users(MarketConfig(days=2), np.random.default_rng(0))
    >>> t[["arm", "day", "price_usd", "model_quality"]].head(2).to_dict("list")
    {'arm': ['A', 'A'], 'day': [0, 1], 'price_usd': [9.99, 9.99], 'model_quality': [0.7, 0.7]}
    """
    t = config.truth
    rows = []
    start = pd.Timestamp(config.start, tz="UTC")
    for arm in config.arms:
        quality = MODEL_VERSIONS[arm.model_version].quality
        ad = rng.uniform(*config.ad_spend_usd_range, size=config.days)
        mu = np.exp(
            t.intercept
            + t.price_usd * arm.price_usd
            + t.ad_spend_usd * ad
            + t.model_quality * quality
        )
        users = rng.poisson(mu)
        for d in range(config.days):
            rows.append(
                (
                    arm.name,
                    d,
                    start + pd.Timedelta(days=d),
                    arm.price_usd,
                    float(ad[d]),
                    arm.model_version,
                    quality,
                    float(mu[d]),
                    int(users[d]),
                )
            )
    return pd.DataFrame(rows, columns=list(ARM_DAY_COLUMNS))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def simulate_market(config: MarketConfig | None = None) -> MarketData:
    """Simulate sign-ups, visits, purchases, churn, model requests and feedback.

    See the module docstring for the generating process. Runs in about a second for the
    default 4 arms x 28 days (about 15 000 users).
    """
    cfg = config or MarketConfig()
    rng = np.random.default_rng(cfg.seed)
    arm_days = simulate_new_users(cfg, rng)
    start = pd.Timestamp(cfg.start, tz="UTC")
    day_ns = np.int64(86_400 * 10**9)
    arms = {a.name: a for a in cfg.arms}

    # users: (arm, signup day), lifetime in days until churn
    u_arm = np.repeat(arm_days["arm"].to_numpy(), arm_days["new_users"].to_numpy())
    u_day = np.repeat(arm_days["day"].to_numpy(), arm_days["new_users"].to_numpy())
    n_users = u_arm.size
    quality = np.array([MODEL_VERSIONS[arms[a].model_version].quality for a in u_arm])
    hazard = cfg.churn_base + cfg.churn_quality * (1 - quality)
    lifetime = rng.geometric(hazard)  # churns on day signup + lifetime
    churn_day = u_day + lifetime
    signup_ts = start.value + u_day * day_ns + rng.integers(0, day_ns // 2, n_users)

    # user-days while active; a visit on the signup day and with visit_prob later
    active_len = np.minimum(lifetime, cfg.days - u_day)
    ud_user = np.repeat(np.arange(n_users), active_len)
    ud_offset = np.arange(ud_user.size) - np.repeat(np.cumsum(active_len) - active_len, active_len)
    visit = (ud_offset == 0) | (rng.random(ud_user.size) < cfg.visit_prob)
    v_user, v_offset = ud_user[visit], ud_offset[visit]
    v_day = u_day[v_user] + v_offset
    v_ts = np.where(
        v_offset == 0,
        signup_ts[v_user] + rng.integers(60, 3600, v_user.size) * 10**9,
        start.value + v_day * day_ns + rng.integers(0, day_ns - 2 * 3600 * 10**9, v_user.size),
    )
    v_arm = u_arm[v_user]
    price = np.array([arms[a].price_usd for a in v_arm])
    p_buy = 1 / (1 + np.exp(-(cfg.buy_intercept + cfg.buy_price * price)))
    buy = rng.random(v_user.size) < p_buy

    churned = churn_day < cfg.days
    c_users = np.flatnonzero(churned)
    c_ts = start.value + churn_day[c_users] * day_ns + rng.integers(0, day_ns, c_users.size)

    ev = pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": np.arange(n_users),
                    "type": "signup",
                    "value": np.nan,
                    "ts": signup_ts,
                    "arm": u_arm,
                }
            ),
            pd.DataFrame(
                {"user_id": v_user, "type": "visit", "value": np.nan, "ts": v_ts, "arm": v_arm}
            ),
            pd.DataFrame(
                {
                    "user_id": v_user[buy],
                    "type": "purchase",
                    "value": price[buy],
                    "ts": v_ts[buy] + 120 * 10**9,
                    "arm": v_arm[buy],
                }
            ),
            pd.DataFrame(
                {
                    "user_id": c_users,
                    "type": "churn",
                    "value": np.nan,
                    "ts": c_ts,
                    "arm": u_arm[c_users],
                }
            ),
        ],
        ignore_index=True,
    )
    ev = ev.sort_values("ts", kind="stable", ignore_index=True)
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True)
    ev.insert(0, "event_id", np.arange(len(ev)))

    # model requests: 1 + Poisson(extra_requests) per visit
    n_req = 1 + rng.poisson(cfg.extra_requests, v_user.size)
    r_visit = np.repeat(np.arange(v_user.size), n_req)
    r_arm = v_arm[r_visit]
    r_day = v_day[r_visit]
    long_share = np.zeros(r_visit.size)
    if cfg.long_text_from_day is not None:
        long_share[r_day >= cfg.long_text_from_day] = cfg.long_share
    texts, sentiment = synthetic_headlines(r_visit.size, rng, long_share=0.0)
    if cfg.long_text_from_day is not None and (long_share > 0).any():
        idx = np.flatnonzero(long_share > 0)
        long_texts, long_sent = synthetic_headlines(idx.size, rng, long_share=cfg.long_share)
        for j, i in enumerate(idx):
            texts[i] = long_texts[j]
        sentiment[idx] = long_sent
    version = np.array([arms[a].model_version for a in r_arm])
    mv = [MODEL_VERSIONS[v] for v in version]
    median = np.array([m.latency_ms_median for m in mv])
    latency = median * np.exp(rng.normal(0.0, 0.35, r_visit.size))
    cost = np.array([m.cost_usd_per_prediction for m in mv]) * latency / median
    r_quality = np.array([m.quality for m in mv])
    output = np.clip(sentiment + rng.normal(0.0, 1.0, r_visit.size) * (1 - r_quality), -1, 1)
    r_ts = v_ts[r_visit] + rng.integers(1, 600, r_visit.size) * 10**9
    pred = pd.DataFrame(
        {
            "prediction_id": np.arange(r_visit.size),
            "ts": pd.to_datetime(r_ts, utc=True),
            "model_name": "advisor",
            "model_version": version,
            "latency_ms": latency,
            "cost_usd": cost,
            "user_id": v_user[r_visit],
            "arm": r_arm,
            "text": texts,
            "output": output,
        }
    )

    has_fb = rng.random(r_visit.size) < cfg.feedback_prob
    fb_idx = np.flatnonzero(has_fb)
    stars = np.clip(np.rint(1 + 4 * r_quality[fb_idx] + rng.normal(0, 0.8, fb_idx.size)), 1, 5)
    feedback = pd.DataFrame(
        {
            "prediction_id": fb_idx,
            "ts": pd.to_datetime(
                r_ts[fb_idx] + rng.integers(5, 3600, fb_idx.size) * 10**9, utc=True
            ),
            "rating": stars,
            "label": sentiment[fb_idx],
        }
    )
    return MarketData(ev, pred, feedback, arm_days, cfg)
