"""The advisor's own report sections (``custom`` key of the project's analysis file).

Keys: ``advisor_frontier`` (efficient frontier with the chosen portfolios),
``advisor_weights`` (weights per risk profile), ``advisor_views`` (sentiment views and their
headlines), ``advisor_backtest`` (equity curves with transaction costs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bizmodel.templates.advisor.advice import AdviceOptions
from bizmodel.templates.advisor.measured import MEASURED, MEASURED_ON
from bizmodel.templates.advisor.portfolio import (
    DISCLAIMER,
    BacktestResult,
    efficient_frontier,
    market_estimates,
)

_LAYOUT = {"height": 420, "legend": {"orientation": "h", "y": -0.25}}


def _scatter(x: list[Any], y: list[float], name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "x": x, "y": y, "name": name, **extra}


def advisor_sections(
    *,
    prices: pd.DataFrame,
    caps: Mapping[str, float],
    answers: Mapping[str, Mapping[str, Any]],
    backtest: BacktestResult,
    options: AdviceOptions,
    window: int,
    quality: float,
    profile: str,
    cost_bps: float,
) -> list[dict[str, Any]]:
    """Section dicts (``Section.to_dict()`` shape) from the served answers and the backtest.

    ``answers`` maps each profile to its ``POST /v1/advice`` answer.
    """
    first = next(iter(answers.values()))
    hist = prices.iloc[-(window + 1) :]
    _, cov = market_estimates(hist, market_caps=caps, prior=options.prior)
    post = pd.Series(first["posterior_returns"]).reindex(cov.index)
    front = efficient_frontier(post, cov, max_weight=options.max_weight, points=25)
    vols = [float(cov.loc[t, t]) ** 0.5 for t in cov.index]
    frontier_fig = {
        "data": [
            _scatter(
                [p["volatility"] for p in front],
                [p["expected_return"] for p in front],
                "efficient frontier (views included)",
                mode="lines",
            ),
            _scatter(
                vols,
                post.tolist(),
                "tickers",
                mode="markers+text",
                text=list(cov.index),
                textposition="top center",
            ),
            *[
                _scatter(
                    [a["volatility"]],
                    [a["expected_return"]],
                    f"{name} portfolio",
                    mode="markers",
                    marker={"size": 14, "symbol": "star"},
                )
                for name, a in answers.items()
            ],
        ],
        "layout": {
            **_LAYOUT,
            "xaxis": {"title": {"text": "volatility (annual)"}, "tickformat": ".0%"},
            "yaxis": {"title": {"text": "expected return (annual)"}, "tickformat": ".0%"},
        },
    }
    tickers = list(first["weights"])
    weights_fig = {
        "data": [
            {"type": "bar", "x": tickers, "y": [a["weights"][t] for t in tickers], "name": n}
            for n, a in answers.items()
        ],
        "layout": {
            **_LAYOUT,
            "barmode": "group",
            "yaxis": {"title": {"text": "weight"}, "tickformat": ".0%"},
        },
    }
    equity = backtest.equity
    equity_fig = {
        "data": [
            _scatter([str(i) for i in equity.index], equity[c].tolist(), str(c), mode="lines")
            for c in equity.columns
        ],
        "layout": {**_LAYOUT, "yaxis": {"title": {"text": "wealth (start 1, after costs)"}}},
    }
    views = [
        {
            "ticker": v["ticker"],
            "sentiment": round(v["sentiment"], 3),
            "headlines": v["headlines_count"],
            "prior_return": round(v["prior_return"], 4),
            "view_return": round(v["view_return"], 4),
            "posterior_return": round(v["posterior_return"], 4),
            "balanced_weight": round(answers.get("balanced", first)["weights"][v["ticker"]], 4),
            "top_headline": max(v["headlines"], key=lambda h: abs(h["sentiment"]))["text"],
        }
        for v in first["views"]
    ]
    return [
        {
            "key": "advisor_frontier",
            "title": "Efficient frontier and the chosen portfolios",
            "description": (
                "Long-only frontier (max weight "
                f"{options.max_weight:.0%}) of the Black–Litterman posterior returns with the "
                "latest headlines' views; stars: the portfolio served by POST /v1/advice for "
                "each risk profile. " + DISCLAIMER
            ),
            "figures": [frontier_fig],
            "table": [
                {
                    "profile": n,
                    "expected_return": round(a["expected_return"], 4),
                    "volatility": round(a["volatility"], 4),
                    "sharpe": None if a["sharpe"] is None else round(a["sharpe"], 3),
                }
                for n, a in answers.items()
            ],
        },
        {
            "key": "advisor_weights",
            "title": "Portfolio weights per risk profile",
            "description": "Weights served by POST /v1/advice (no leverage, no short sales).",
            "figures": [weights_fig],
            "table": [
                {"ticker": t, **{n: round(a["weights"][t], 4) for n, a in answers.items()}}
                for t in tickers
            ],
        },
        {
            "key": "advisor_views",
            "title": "Sentiment views and the headlines behind them",
            "description": (
                "Each ticker's view: prior + strength · mean sentiment · volatility, with "
                "confidence growing with the number of headlines; sentiment by the served "
                f"model (Pearson {quality:.3f} with the headlines' true sentiment)."
            ),
            "table": views,
            "notes": [DISCLAIMER],
        },
        {
            "key": "advisor_backtest",
            "title": f"Walk-forward backtest ({profile}), {cost_bps:g} bps transaction costs",
            "description": (
                "Rebalanced on generated weekly prices using only past prices and headlines; "
                "advisor = Black–Litterman with sentiment views, vs the same mean-variance "
                "without views and vs equal weight. Simulated performance, not a forecast."
            ),
            "figures": [equity_fig],
            "table": [
                {
                    "strategy": name,
                    **{k: round(v, 4) for k, v in s.items()},
                    "mean_turnover": round(backtest.turnover[name], 4),
                    "costs_paid": round(backtest.costs[name], 4),
                }
                for name, s in backtest.stats.items()
            ],
            "notes": [DISCLAIMER],
        },
    ]


def business_section(
    conversion: Any, truth: Mapping[str, float], spec: Mapping[str, Any], recommendation: Any
) -> dict[str, Any]:
    """Section dict: the conversion fit against the simulation's truth, the model sizes
    (quality, cost per request, hosting) and the recommended levers."""
    rows = [
        {
            "coefficient": f"conversion {n}",
            "estimate": round(float(conversion.params[n]), 5),
            "ci_low": round(lo, 5),
            "ci_high": round(hi, 5),
            "truth": truth[n],
        }
        for n, (lo, hi) in conversion.conf_int().items()
    ]
    sizes = spec["levers"]["model"]["choices"]
    notes = [
        f"model {name}: quality {c['model_quality']:.3f}, "
        f"{c['inference_cost_usd'] * 1000:.2e} USD per 1k requests, hosting "
        f"{c['hosting_usd_per_day']:.1f} USD/day, subscribers stay {c['paid_months']:.1f} months"
        for name, c in sizes.items()
    ]
    notes.append(
        "small = MiniLM (the model fine-tuned and served here; inference cost measured at its "
        "registration), large = all-mpnet-base-v2; quality = SemEval-2017 headlines test "
        f"weighted cosine (3 seeds each), large's cost = {_ratio():.1f}x small's per "
        f"prediction, both measured on {MEASURED_ON} by benchmarks/model_compare.py "
        "(bizmodel.templates.advisor.measured); small's hosting is assumed."
    )
    levers = recommendation["levers"]
    notes.append(
        "recommended: "
        + ", ".join(f"{k} = {v if isinstance(v, str) else round(v, 2)}" for k, v in levers.items())
    )
    return {
        "key": "advisor_business",
        "title": "Freemium levers: conversion fit vs truth, model sizes",
        "description": (
            "Share of sign-ups who subscribe, fitted from the stored events (Poisson with the "
            "sign-ups as exposure) against the simulation's ground truth; levers: subscription "
            "price, free-tier limit (advice requests per month), model size."
        ),
        "table": rows,
        "notes": notes,
    }


def _ratio() -> float:
    return MEASURED["large"].cpu_s_per_1k / MEASURED["small"].cpu_s_per_1k


__all__ = ["advisor_sections", "business_section"]
