"""The advisor's business model: freemium subscriptions, levers price / free tier / model size.

One day of sign-ups at a setting of the levers, followed over their lifetime::

    users       = R(price_usd, free_limit, model_quality)             (fitted growth)
    conversion  = exp(c + c_p·price_usd + c_f·free_limit + c_q·model_quality)
    subscribers = users · conversion
    revenue     = subscribers · price_usd · paid_months
    requests    = users · (1 − conversion) · min(free_limit, free_demand) · free_months
                  + subscribers · paid_requests · paid_months
    cost        = requests · inference_cost_usd + hosting_usd_per_day
    profit      = revenue − cost

``paid_months = 1 / churn`` with the churn of :class:`~.market.SubscriberTruth` for the
model's quality. The model size is the cost-vs-quality lever: the large model converts and
retains better but costs more per request and to host. Quality and cost per request are
measured (:mod:`~bizmodel.templates.advisor.measured`); the small model's hosting is
assumed and the large one's scales with the measured compute per prediction (the same
traffic at the same latency needs that many more cores).

Examples
--------
>>> spec = business_spec({"intercept": 2.2, "price_usd": -0.03, "free_limit": 0.03,
...                       "model_quality": 2.0}, {"intercept": -1.3, "price_usd": -0.025,
...                       "free_limit": -0.035, "model_quality": 1.0})
>>> sorted(spec["levers"]), spec["growth"]["intercept"]
(['free_limit', 'model', 'price_usd'], 2.2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bizmodel.templates.advisor.market import LEVERS, MODEL_SIZES, SubscriberTruth
from bizmodel.templates.advisor.measured import MEASURED

#: Daily hosting of each model size (USD): the fixed part of the model's cost; the small
#: model's is assumed, the large one's that × the measured CPU-seconds ratio (32.8 / 4.14).
HOSTING_USD_PER_DAY = {
    name: 5.0 * m.cpu_s_per_1k / MEASURED["small"].cpu_s_per_1k for name, m in MEASURED.items()
}


def business_spec(
    growth: Mapping[str, float] | str,
    conversion: Mapping[str, float],
    *,
    small_cost_usd_per_request: float | None = None,
    truth: SubscriberTruth | None = None,
    growth_weight: float = 0.3,
    min_margin: float = 0.5,
) -> dict[str, Any]:
    """The business-model spec (the structure of a spec TOML) of the advisor app.

    ``growth`` is a ``GrowthFit`` JSON file name (relative to the spec) or inline coefficients
    ``{"intercept", "price_usd", "free_limit", "model_quality"}``; ``conversion`` has the same
    keys. ``small_cost_usd_per_request`` replaces the small model's cost (measured on the
    benchmark machine) by the one measured where the run registered it; the large one keeps
    the measured cost ratio.
    """
    t = truth or SubscriberTruth()
    small = MODEL_SIZES["small"].cost_usd_per_request
    factor = small_cost_usd_per_request / small if small_cost_usd_per_request else 1.0
    choices = {
        name: {
            "model_quality": m.quality,
            "inference_cost_usd": m.cost_usd_per_request * factor,
            "hosting_usd_per_day": HOSTING_USD_PER_DAY[name],
            "paid_months": 1.0 / t.churn(m.quality),
        }
        for name, m in MODEL_SIZES.items()
    }
    growth_section: dict[str, Any] = (
        {"fit": growth}
        if isinstance(growth, str)
        else {
            "intercept": float(growth["intercept"]),
            "coefficients": {k: float(growth[k]) for k in LEVERS},
        }
    )
    conv = " + ".join(["conv_intercept"] + [f"conv_{k} * {k}" for k in LEVERS])
    return {
        "levers": {
            "price_usd": {"min": 5.0, "max": 40.0},
            "free_limit": {"min": 0.0, "max": 30.0},
            "model": {"choices": choices},
        },
        "growth": growth_section,
        "constants": {
            "conv_intercept": float(conversion["intercept"]),
            **{f"conv_{k}": float(conversion[k]) for k in LEVERS},
            "free_demand": 8.0,
            "free_months": 3.0,
            "paid_requests": 20.0,
        },
        "quantities": {
            "users": "growth",
            "conversion": f"exp({conv})",
            "subscribers": "users * conversion",
            "revenue_usd": "subscribers * price_usd * paid_months",
            "requests": (
                "users * (1 - conversion) * min(free_limit, free_demand) * free_months"
                " + subscribers * paid_requests * paid_months"
            ),
            "cost_usd": "requests * inference_cost_usd + hosting_usd_per_day",
            "profit_usd": "revenue_usd - cost_usd",
            "margin": "profit_usd / revenue_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0, "users": growth_weight}},
        "constraints": [{"expr": f"margin >= {min_margin}"}],
    }


__all__ = ["HOSTING_USD_PER_DAY", "business_spec"]
