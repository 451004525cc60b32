"""Unit economics of an AI product, with the model's measured compute cost in it.

All functions are pure and use only arithmetic, so they accept floats, numpy arrays and the
optimizer's dual numbers. :data:`SPEC_FUNCTIONS` maps the names a business-model spec can call
(``"ltv(arpu_usd, churn, margin)"``) to these functions.

Examples
--------
>>> from bizmodel.economics import ltv, payback_months
>>> ltv(30.0, 0.05)
600.0
>>> sorted(SPEC_FUNCTIONS)[:3]
['amortized_training_cost_usd', 'arpu', 'break_even_units']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bizmodel.economics.unit import (
    amortized_training_cost_usd,
    arpu,
    break_even_units,
    cac,
    contribution_margin,
    contribution_margin_ratio,
    conversion_rate,
    cost_per_1k_predictions,
    gross_margin,
    inference_cost_usd,
    ltv,
    ltv_to_cac,
    model_cost_usd,
    payback_months,
    training_cost_per_1k,
)

__all__ = [
    "SPEC_FUNCTIONS",
    "amortized_training_cost_usd",
    "arpu",
    "break_even_units",
    "cac",
    "contribution_margin",
    "contribution_margin_ratio",
    "conversion_rate",
    "cost_per_1k_predictions",
    "gross_margin",
    "inference_cost_usd",
    "ltv",
    "ltv_to_cac",
    "model_cost_usd",
    "payback_months",
    "training_cost_per_1k",
]

#: Functions a business-model spec may call by name: every function this package exports.
SPEC_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: globals()[name] for name in __all__ if name != "SPEC_FUNCTIONS"
}
