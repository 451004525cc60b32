"""Report inputs computed from the market simulator, so the report can be seen without a store.

:func:`demo_report_data` returns a dict for :func:`~bizmodel.report.sections.sections_from_data`.
The growth fit, lifts and Pareto front here are deliberately small stand-ins (a Poisson IRLS
fit, delta-method lifts, a grid search) so this module depends on nothing but numpy and the
simulator; the real engines (``bizmodel.growth``, ``bizmodel.stats``, ``bizmodel.optimize``)
replace them when the flywheel is wired together.

Examples
--------
>>> data = demo_report_data(days=7, seed=0)
>>> sorted(data)
['alerts', 'custom', 'drift', 'experiments', 'growth', 'kpis', 'model_versions', 'pareto']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bizmodel.monitor.alerts import DEFAULT_RULES, evaluate_rules
from bizmodel.monitor.drift import DriftReport, prediction_drift, text_drift
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.simulate.market import (
    LEVERS,
    MODEL_VERSIONS,
    MarketConfig,
    MarketData,
    simulate_market,
)

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class PoissonFit:
    """Coefficients (intercept first) and their covariance from :func:`fit_poisson`."""

    names: tuple[str, ...]
    params: NDArray[np.float64]
    cov: NDArray[np.float64]

    def conf_int(self) -> NDArray[np.float64]:
        """95% Wald intervals, shape (k, 2)."""
        se = np.sqrt(np.diag(self.cov))
        return np.column_stack([self.params - _Z95 * se, self.params + _Z95 * se])

    def predict(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """Mean and 95% band at rows ``x`` (levers only, no intercept column)."""
        design = np.column_stack([np.ones(len(x)), x])
        eta = design @ self.params
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov, design))
        return np.exp(eta), np.exp(eta - _Z95 * se), np.exp(eta + _Z95 * se)


def fit_poisson(
    x: NDArray[np.float64], y: NDArray[np.float64], names: tuple[str, ...]
) -> PoissonFit:
    """Poisson GLM with log link by IRLS: ``log E[y] = b + x·a``; covariance ``(Xᵀ W X)⁻¹``.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [0.0], [1.0]]); y = np.array([10.0, 20.0, 10.0, 20.0])
    >>> np.round(fit_poisson(x, y, ("x",)).params, 6).tolist()
    [2.302585, 0.693147]
    """
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(max(y.mean(), 1e-9))
    for _ in range(50):
        mu = np.exp(design @ beta)
        info = design.T @ (design * mu[:, None])
        step = np.linalg.solve(info, design.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(design @ beta)
    cov = np.linalg.inv(design.T @ (design * mu[:, None]))
    return PoissonFit(("intercept", *names), beta, cov)


def _lifts(data: MarketData) -> list[dict[str, Any]]:
    table, ev = data.arm_days, data.events
    control = data.config.arms[0].name
    visits = ev[ev["type"] == "visit"].groupby("arm").size()
    buys = ev[ev["type"] == "purchase"].groupby("arm").size()
    out = []
    for arm in data.config.arms[1:]:
        # new users per day: ratio of means, delta method on the log scale
        a = table.loc[table["arm"] == control, "new_users"].to_numpy(dtype=float)
        b = table.loc[table["arm"] == arm.name, "new_users"].to_numpy(dtype=float)
        se = np.sqrt(
            a.var(ddof=1) / (a.size * a.mean() ** 2) + b.var(ddof=1) / (b.size * b.mean() ** 2)
        )
        ratio = b.mean() / a.mean()
        label = f"{arm.name} (${arm.price_usd:g}, {arm.model_version}) vs {control}"
        out.append(
            {
                "name": f"{label}: new users/day",
                "metric": "new_users",
                "lift": ratio - 1,
                "ci_low": ratio * np.exp(-_Z95 * se) - 1,
                "ci_high": ratio * np.exp(_Z95 * se) - 1,
            }
        )
        # purchases per visit: ratio of proportions
        pa, pb = buys[control] / visits[control], buys[arm.name] / visits[arm.name]
        se = np.sqrt((1 - pa) / buys[control] + (1 - pb) / buys[arm.name])
        ratio = pb / pa
        out.append(
            {
                "name": f"{label}: conversion",
                "metric": "conversion",
                "lift": ratio - 1,
                "ci_low": ratio * np.exp(-_Z95 * se) - 1,
                "ci_high": ratio * np.exp(_Z95 * se) - 1,
            }
        )
    return [{k: float(v) if isinstance(v, np.floating) else v for k, v in d.items()} for d in out]


def _growth(data: MarketData, fit: PoissonFit) -> dict[str, Any]:
    arm = data.config.arms[-1]
    rows = data.arm_days[data.arm_days["arm"] == arm.name]
    grid = np.linspace(*data.config.ad_spend_usd_range, 50)
    quality = MODEL_VERSIONS[arm.model_version].quality
    x = np.column_stack([np.full_like(grid, arm.price_usd), grid, np.full_like(grid, quality)])
    mean, lower, upper = fit.predict(x)
    truth = data.truth.coefficients()
    ci = fit.conf_int()
    coefficients = [
        {
            "name": n,
            "estimate": float(p),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "truth": truth[n],
        }
        for n, p, (lo, hi) in zip(fit.names, fit.params, ci, strict=True)
    ]
    return {
        "x": rows["ad_spend_usd"].tolist(),
        "y": rows["new_users"].astype(float).tolist(),
        "curve_x": grid.tolist(),
        "mean": mean.tolist(),
        "lower": lower.tolist(),
        "upper": upper.tolist(),
        "x_label": "daily ad spend (USD)",
        "y_label": f"new users per day, arm {arm.name} (${arm.price_usd:g}, {arm.model_version})",
        "group": [f"arm {arm.name}"] * len(rows),
        "coefficients": coefficients,
    }


def _pareto(data: MarketData, fit: PoissonFit) -> dict[str, Any]:
    cfg = data.config
    points: list[dict[str, Any]] = []
    for version, mv in MODEL_VERSIONS.items():
        hazard = cfg.churn_base + cfg.churn_quality * (1 - mv.quality)
        visits_per_user = 1 + cfg.visit_prob * (1 / hazard - 1)
        for price in np.linspace(5.0, 30.0, 26):
            for ad in np.linspace(*cfg.ad_spend_usd_range, 5):
                mu = float(fit.predict(np.array([[price, ad, mv.quality]]))[0][0])
                p_buy = 1 / (1 + np.exp(-(cfg.buy_intercept + cfg.buy_price * price)))
                per_user = visits_per_user * (
                    p_buy * price - (1 + cfg.extra_requests) * mv.cost_usd_per_prediction
                )
                points.append(
                    {
                        "model_version": version,
                        "price_usd": float(price),
                        "ad_spend_usd": float(ad),
                        "new_users_per_day": mu,
                        "margin_usd_per_day": float(mu * per_user - ad),
                    }
                )
    xs = np.array([p["new_users_per_day"] for p in points])
    ys = np.array([p["margin_usd_per_day"] for p in points])
    dominated = [
        bool(np.any((xs >= xi) & (ys >= yi) & ((xs > xi) | (ys > yi))))
        for xi, yi in zip(xs, ys, strict=True)
    ]
    front = [p for p, d in zip(points, dominated, strict=True) if not d]
    # weighted objective: margin + 5 USD per new user (the value of growth)
    chosen = max(front, key=lambda p: p["margin_usd_per_day"] + 5.0 * p["new_users_per_day"])
    others = [p for p, d in zip(points, dominated, strict=True) if d]
    return {
        "front": front,
        "chosen": chosen,
        "others": others,
        "x": "new_users_per_day",
        "y": "margin_usd_per_day",
        "label": "model_version",
    }


def _versions(data: MarketData) -> list[dict[str, Any]]:
    pr, fb = data.predictions, data.feedback
    joined = fb.merge(pr[["prediction_id", "model_version", "output"]], on="prediction_id")
    mae = (joined["output"] - joined["label"]).abs().groupby(joined["model_version"]).mean()
    rating = joined.groupby("model_version")["rating"].mean()
    out = []
    for name, g in pr.groupby("model_version"):
        out.append(
            {
                "version": f"advisor-{name}",
                "stage": "champion" if name == "small" else "challenger",
                "quality": float(1 - mae[name]),
                "live_mae": float(mae[name]),
                "mean_rating": float(rating[name]),
                "cost_usd_per_1k": float(1000 * g["cost_usd"].mean()),
                "latency_p50_ms": float(g["latency_ms"].median()),
                "predictions": len(g),
            }
        )
    return out


def _drift(data: MarketData, days: int) -> DriftReport:
    pr = data.predictions
    day = (pr["ts"] - pr["ts"].min().floor("D")).dt.days
    ref, cur = pr[day < min(7, days // 2)], pr[day >= days - min(7, days // 2)]
    text = text_drift(ref["text"].tolist(), cur["text"].tolist())
    pred = prediction_drift(ref["output"].to_numpy(), cur["output"].to_numpy(), name="model_output")
    return DriftReport((*text.features, pred), text.thresholds)


def _signups_by_arm(table: Any) -> dict[str, Any]:
    """A caller-built section (as templates add their own plots): daily sign-ups per arm."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": str(arm),
            "x": g["date"].astype(str).tolist(),
            "y": g["new_users"].astype(float).tolist(),
        }
        for arm, g in table.groupby("arm", sort=True)
    ]
    return {
        "key": "signups_by_arm",
        "title": "Daily sign-ups per arm",
        "description": "New users per day in each arm of the simulated A/B test.",
        "figures": [
            {
                "data": traces,
                "layout": {
                    "xaxis": {"title": {"text": "date"}},
                    "yaxis": {"title": {"text": "new users"}},
                },
            }
        ],
    }


def demo_report_data(days: int = 28, seed: int = 0) -> dict[str, Any]:
    """Simulate a market (headlines drift to a longer style in the last week) and compute
    every report section's inputs from it."""
    cfg = MarketConfig(days=days, seed=seed, long_text_from_day=max(1, days - 7))
    data = simulate_market(cfg)
    table = data.arm_days
    fit = fit_poisson(
        table[list(LEVERS)].to_numpy(dtype=float), table["new_users"].to_numpy(dtype=float), LEVERS
    )
    kpis = compute_kpis(data.events, data.predictions, data.feedback)
    drift = _drift(data, days)
    alerts = evaluate_rules(DEFAULT_RULES, kpis=kpis, drift=drift, all_windows=True)
    return {
        "alerts": [a.to_dict() for a in alerts],
        "custom": [_signups_by_arm(table)],
        "kpis": kpis.to_dict(),
        "experiments": _lifts(data),
        "growth": _growth(data, fit),
        "pareto": _pareto(data, fit),
        "model_versions": _versions(data),
        "drift": drift.to_dict(),
    }
