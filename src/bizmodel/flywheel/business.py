"""From the market's data to decisions: growth fit, experiment lifts, optimised levers.

Each step calls the capability that owns it — :mod:`bizmodel.growth` fits
``R(x) = exp(Σ aᵢxᵢ + b)`` to the per-arm, per-day sign-ups, :mod:`bizmodel.stats` analyses
the A/B arms per user, :mod:`bizmodel.optimize` maximises the weighted objective — and this
module only builds their inputs and turns their results into report sections.

The business model optimised here (one day of the product, per arm-like setting of the levers):

.. math::

    users = R(price, ad, quality), \\quad
    revenue = users · v · σ(β₀ + β₁ · price) · price, \\\\
    cost = ad + users · v · r · c_{model}, \\quad profit = revenue − cost

with ``v`` visits per user over its lifetime, ``r`` requests per visit and ``c_model`` the
inference cost per request of the chosen model version (the *measured* one for the served
model), ``σ`` the purchase probability per visit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.growth import GrowthFit, fit_growth
from bizmodel.simulate.market import LEVERS, MODEL_VERSIONS, MarketConfig
from bizmodel.stats import ABTestResult
from bizmodel.stats.units import analyze_units


def fit_market_growth(arm_days: pd.DataFrame) -> GrowthFit:
    """Poisson growth fit of new users per arm-day on the levers (price, ad spend, quality).

    Examples
    --------
    >>> from bizmodel.simulate.market import simulate_market, MarketConfig
    >>> fit = fit_market_growth(simulate_market(MarketConfig(days=7, seed=3)).arm_days)
    >>> fit.param_names
    ('intercept', 'price_usd', 'ad_spend_usd', 'model_quality')
    """
    return fit_growth(arm_days, "new_users", list(LEVERS), family="poisson")


def truth_coverage(fit: GrowthFit, truth: Mapping[str, float]) -> dict[str, bool]:
    """For each coefficient, whether the fit's 95% interval contains the true value."""
    return {name: bool(lo <= truth[name] <= hi) for name, (lo, hi) in fit.conf_int().items()}


def user_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per user: arm, whether they bought, revenue, visits (from the event stream)."""
    signups = events[events["type"] == "signup"][["user_id", "arm"]].drop_duplicates("user_id")
    kinds = events.pivot_table(
        index="user_id", columns="type", values="ts", aggfunc="count", fill_value=0
    )
    revenue = events[events["type"] == "purchase"].groupby("user_id")["value"].sum()
    users = signups.set_index("user_id")
    kinds = kinds.reindex(index=users.index, columns=["visit", "purchase"], fill_value=0)
    users["visits"] = kinds["visit"].astype(float)
    users["purchased"] = (kinds["purchase"] > 0).astype(float)
    users["revenue_usd"] = revenue.reindex(users.index, fill_value=0.0)
    return users.reset_index()


def experiment_results(events: pd.DataFrame, arms: list[str]) -> list[ABTestResult]:
    """Per-user A/B analyses of conversion and revenue, every arm against ``arms[0]``."""
    users = user_table(events)
    return [
        analyze_units(users, variant="arm", metric=m, arms=arms, user="user_id")
        for m in ("purchased", "revenue_usd")
    ]


def lift_rows(
    results: Sequence[ABTestResult | Mapping[str, Any]], *, experiment: str | None = None
) -> list[dict[str, Any]]:
    """Report rows ``{name, metric, lift, ci_low, ci_high, p_value}`` (relative lifts).

    ``results`` are :class:`~bizmodel.stats.ABTestResult` objects or their ``to_dict()`` (what
    ``ab-test --json`` prints); ``experiment`` names the experiment in each row's name.

    Examples
    --------
    >>> from bizmodel.stats import ProportionStatistic, analyze
    >>> res = analyze({"a": ProportionStatistic(100, 10.0), "b": ProportionStatistic(100, 20.0)},
    ...               control="a", metric="bought")
    >>> [r["name"] for r in lift_rows([res], experiment="promo")]
    ['promo: b vs a: bought']
    >>> lift_rows([res.to_dict()]) == lift_rows([res])
    True
    """
    rows = []
    for res in results:
        d = res if isinstance(res, Mapping) else res.to_dict()
        for c in d["comparisons"]:
            name = f"{c['arm']} vs {c['control']}: {d['metric']}"
            rows.append(
                {
                    "name": f"{experiment}: {name}" if experiment else name,
                    "metric": d["metric"],
                    "lift": c["estimate"],
                    "ci_low": c["ci_low"],
                    "ci_high": c["ci_high"],
                    "p_value": c.get("p_value"),
                }
            )
    return rows


def business_spec(
    fit_path: str | Path,
    config: MarketConfig,
    *,
    served_cost_usd_per_request: float | None = None,
    min_margin: float = 0.3,
    growth_weight: float = 0.3,
) -> dict[str, Any]:
    """The business-model spec (the TOML structure) of the simulated product.

    ``served_cost_usd_per_request`` replaces the small model's assumed inference cost by the
    measured one; the large model keeps its cost ratio to the small one.
    """
    hazards = {
        name: config.churn_base + config.churn_quality * (1 - mv.quality)
        for name, mv in MODEL_VERSIONS.items()
    }
    small = MODEL_VERSIONS["small"].cost_usd_per_prediction
    factor = (served_cost_usd_per_request / small) if served_cost_usd_per_request else 1.0
    choices = {
        name: {
            "model_quality": mv.quality,
            "inference_cost_usd": mv.cost_usd_per_prediction * factor,
            # expected visits over a user's life: signup visit + visit_prob per active day
            "visits_per_user": 1 + config.visit_prob * (1 / hazards[name] - 1),
        }
        for name, mv in MODEL_VERSIONS.items()
    }
    lo, hi = config.ad_spend_usd_range
    return {
        "levers": {
            "price_usd": {"min": 5.0, "max": 40.0},
            "ad_spend_usd": {"min": lo, "max": hi},
            "model": {"choices": choices},
        },
        "growth": {"fit": str(fit_path)},
        "constants": {
            "buy_intercept": config.buy_intercept,
            "buy_price": config.buy_price,
            "requests_per_visit": 1 + config.extra_requests,
        },
        "quantities": {
            "users": "growth",
            "buy_prob": "1 / (1 + exp(-(buy_intercept + buy_price * price_usd)))",
            "revenue_usd": "users * visits_per_user * buy_prob * price_usd",
            "requests": "users * visits_per_user * requests_per_visit",
            "cost_usd": "ad_spend_usd + requests * inference_cost_usd",
            "profit_usd": "revenue_usd - cost_usd",
            "margin": "profit_usd / revenue_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0, "users": growth_weight}},
        "constraints": [{"expr": f"margin >= {min_margin}"}],
    }


def growth_section(
    fit: GrowthFit,
    arm_days: pd.DataFrame,
    truth: Mapping[str, float],
    *,
    x: str = "ad_spend_usd",
    x_label: str = "daily ad spend (USD)",
    y_label: str | None = None,
    arm: Any = None,
) -> dict:
    """Report input: sign-ups vs the lever ``x`` with the fit's band at one arm's setting of
    the other levers (``fit.features``; ``arm`` defaults to the first row's arm), over every
    arm's observations."""
    first = arm_days.iloc[0] if arm is None else arm_days[arm_days["arm"] == arm].iloc[0]
    grid = np.linspace(arm_days[x].min(), arm_days[x].max(), 50)
    frame = pd.DataFrame({f: float(first[f]) for f in fit.features if f != x}, index=range(50))
    frame[x] = grid
    pred = fit.predict(frame[list(fit.features)], interval=True)
    coefficients = [
        {
            "name": n,
            "estimate": float(fit.params[n]),
            "ci_low": lo,
            "ci_high": hi,
            "truth": float(truth[n]),
        }
        for n, (lo, hi) in fit.conf_int().items()
    ]
    # every arm's observations, coloured by arm (the curve is drawn at ``first``'s levers)
    return {
        "x": arm_days[x].astype(float).tolist(),
        "y": arm_days["new_users"].astype(float).tolist(),
        "curve_x": grid.tolist(),
        "mean": np.asarray(pred.mean).tolist(),
        "lower": np.asarray(pred.lower).tolist(),
        "upper": np.asarray(pred.upper).tolist(),
        "x_label": x_label,
        "y_label": y_label
        or (
            f"new users per day (curve at arm {first['arm']}: "
            f"${float(first['price_usd']):g}, {first['model_version']})"
        ),
        "group": [f"arm {a}" for a in arm_days["arm"]],
        "coefficients": coefficients,
    }


def pareto_section(front: Any, chosen: Mapping[str, Any], x: str, y: str) -> dict[str, Any]:
    """Report input for the Pareto front between quantities ``x`` and ``y``.

    An infeasible front (``front.status``) or recommendation (``chosen["status"]``) gives a
    section that says so, with the recommendation's closest plan as the chosen point.
    """
    points = [{x: p.values[x], y: p.values[y], **p.levers} for p in front.points]
    pick = {x: chosen["quantities"][x], y: chosen["quantities"][y], **chosen["levers"]}
    points = [p for p in points if all(math.isfinite(float(p[k])) for k in (x, y))]
    out = {"front": points, "chosen": pick, "x": x, "y": y, "label": "model"}
    for status, message in (
        (chosen.get("status", "optimal"), chosen.get("message", "")),
        (getattr(front, "status", "optimal"), getattr(front, "message", "")),
    ):
        if status != "optimal":
            out.update(status=status, message=message)
            break
    return out
