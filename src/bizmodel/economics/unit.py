"""Unit economics of a subscription / usage-priced product.

Every function uses only ``+ - * /`` on its arguments, so it works on Python floats, numpy
arrays (element-wise) and the optimizer's dual numbers alike, which is how the business-model
spec can call them by name with exact gradients. Periods are whatever the caller uses
consistently (usually months): ARPU per period, churn per period, and so on.
"""

from __future__ import annotations

from typing import Any

Number = Any  # float, numpy array or a dual number: anything with + - * /


def arpu(revenue_usd: Number, users: Number) -> Number:
    """Average revenue per user.

    .. math:: \\mathrm{ARPU} = \\frac{\\mathrm{revenue}}{\\mathrm{users}}

    Examples
    --------
    >>> arpu(12_000.0, 400.0)
    30.0
    """
    return revenue_usd / users


def conversion_rate(conversions: Number, visitors: Number) -> Number:
    """Share of visitors who convert (sign up, buy, ...).

    .. math:: c = \\frac{\\mathrm{conversions}}{\\mathrm{visitors}}

    Examples
    --------
    >>> conversion_rate(30.0, 1200.0)
    0.025
    """
    return conversions / visitors


def cac(marketing_spend_usd: Number, new_customers: Number) -> Number:
    """Customer acquisition cost: marketing spend per newly acquired customer.

    .. math:: \\mathrm{CAC} = \\frac{\\mathrm{spend}}{\\mathrm{new\\ customers}}

    Examples
    --------
    >>> cac(5_000.0, 125.0)
    40.0
    """
    return marketing_spend_usd / new_customers


def ltv(
    arpu_usd: Number, churn_rate: Number, gross_margin: Number = 1.0, discount_rate: Number = 0.0
) -> Number:
    """Customer lifetime value from per-period ARPU and churn (geometric lifetime).

    A customer stays a geometric number of periods with retention :math:`1 - \\mathrm{churn}`;
    with per-period discount rate :math:`d` the discounted sum of margins is

    .. math:: \\mathrm{LTV} = \\mathrm{ARPU} \\cdot m \\cdot \\frac{1 + d}{d + \\mathrm{churn}}

    which is :math:`\\mathrm{ARPU} \\cdot m / \\mathrm{churn}` without discounting.

    Examples
    --------
    >>> ltv(30.0, 0.05, gross_margin=0.8)
    480.0
    >>> round(ltv(30.0, 0.05, gross_margin=0.8, discount_rate=0.01), 2)
    404.0
    """
    return arpu_usd * gross_margin * (1.0 + discount_rate) / (discount_rate + churn_rate)


def payback_months(cac_usd: Number, arpu_usd: Number, gross_margin: Number = 1.0) -> Number:
    """Periods of gross profit needed to earn back the acquisition cost.

    .. math:: \\mathrm{payback} = \\frac{\\mathrm{CAC}}{\\mathrm{ARPU} \\cdot m}

    Examples
    --------
    >>> payback_months(120.0, 30.0, gross_margin=0.8)
    5.0
    """
    return cac_usd / (arpu_usd * gross_margin)


def ltv_to_cac(ltv_usd: Number, cac_usd: Number) -> Number:
    """LTV / CAC ratio (a common health bar is 3).

    .. math:: \\frac{\\mathrm{LTV}}{\\mathrm{CAC}}

    Examples
    --------
    >>> ltv_to_cac(480.0, 120.0)
    4.0
    """
    return ltv_usd / cac_usd


def gross_margin(revenue_usd: Number, cogs_usd: Number) -> Number:
    """Gross margin as a fraction of revenue; the model's compute belongs in COGS.

    .. math:: m = \\frac{\\mathrm{revenue} - \\mathrm{COGS}}{\\mathrm{revenue}}

    Examples
    --------
    >>> gross_margin(1000.0, 250.0)
    0.75
    """
    return (revenue_usd - cogs_usd) / revenue_usd


def contribution_margin(price_usd: Number, variable_cost_usd: Number) -> Number:
    """Contribution margin per unit sold: price minus the unit's variable cost.

    .. math:: \\mathrm{CM} = p - v

    Examples
    --------
    >>> contribution_margin(20.0, 4.5)
    15.5
    """
    return price_usd - variable_cost_usd


def contribution_margin_ratio(price_usd: Number, variable_cost_usd: Number) -> Number:
    """Contribution margin as a fraction of price.

    .. math:: \\frac{p - v}{p}

    Examples
    --------
    >>> contribution_margin_ratio(20.0, 5.0)
    0.75
    """
    return (price_usd - variable_cost_usd) / price_usd


def break_even_units(
    fixed_cost_usd: Number, price_usd: Number, variable_cost_usd: Number
) -> Number:
    """Units to sell per period to cover fixed cost.

    .. math:: q^* = \\frac{F}{p - v}

    Examples
    --------
    >>> break_even_units(9_000.0, 20.0, 5.0)
    600.0
    """
    return fixed_cost_usd / (price_usd - variable_cost_usd)


def cost_per_1k_predictions(
    latency_ms: Number,
    instance_usd_per_hour: Number,
    batch_size: Number = 1.0,
    utilization: Number = 1.0,
) -> Number:
    """Compute cost of 1000 predictions from a measured latency and the instance's price.

    A batch of ``batch_size`` predictions occupies the instance for ``latency_ms``; at
    ``utilization`` (share of paid time doing useful work):

    .. math:: c_{1k} = 1000 \\cdot \\frac{\\mathrm{latency\\_ms}}{3.6 \\times 10^6}
              \\cdot \\frac{\\mathrm{usd\\_per\\_hour}}{\\mathrm{batch} \\cdot u}

    Examples
    --------
    >>> round(cost_per_1k_predictions(40.0, 0.90, batch_size=8, utilization=0.5), 6)
    0.0025
    """
    return 1000.0 * latency_ms / 3.6e6 * instance_usd_per_hour / (batch_size * utilization)


def inference_cost_usd(predictions: Number, cost_usd_per_1k: Number) -> Number:
    """Inference cost of a number of predictions at a measured cost per 1000.

    .. math:: C = n \\cdot \\frac{c_{1k}}{1000}

    Examples
    --------
    >>> inference_cost_usd(250_000.0, 0.4)
    100.0
    """
    return predictions * cost_usd_per_1k / 1000.0


def amortized_training_cost_usd(training_cost_usd: Number, lifetime_periods: Number) -> Number:
    """Training cost spread evenly over the periods the model stays in service.

    .. math:: C_{\\mathrm{train}} / T

    Examples
    --------
    >>> amortized_training_cost_usd(1_200.0, 12.0)
    100.0
    """
    return training_cost_usd / lifetime_periods


def training_cost_per_1k(training_cost_usd: Number, lifetime_predictions: Number) -> Number:
    """Training cost per 1000 predictions over the model's expected lifetime volume.

    .. math:: 1000 \\cdot C_{\\mathrm{train}} / N_{\\mathrm{lifetime}}

    Examples
    --------
    >>> training_cost_per_1k(500.0, 10_000_000.0)
    0.05
    """
    return 1000.0 * training_cost_usd / lifetime_predictions


def model_cost_usd(
    predictions: Number,
    cost_usd_per_1k: Number,
    training_cost_usd: Number = 0.0,
    lifetime_periods: Number = 1.0,
) -> Number:
    """Per-period cost of the model: inference plus amortised training.

    .. math:: n \\cdot c_{1k} / 1000 + C_{\\mathrm{train}} / T

    Examples
    --------
    >>> model_cost_usd(250_000.0, 0.4, training_cost_usd=1_200.0, lifetime_periods=12.0)
    200.0
    """
    return predictions * cost_usd_per_1k / 1000.0 + training_cost_usd / lifetime_periods
