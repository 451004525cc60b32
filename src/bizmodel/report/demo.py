"""Report inputs computed from the market simulator, so the report can be seen without a store.

:func:`demo_report_data` returns a dict for :func:`~bizmodel.report.sections.sections_from_data`.
The growth fit, A/B lifts and Pareto front come from the real engines (``bizmodel.growth``,
``bizmodel.stats``, ``bizmodel.optimize``) through :mod:`bizmodel.flywheel.business`, exactly
as ``bizmodel demo`` computes them from its event store.

Examples
--------
>>> data = demo_report_data(days=7, seed=0)
>>> sorted(data)
['alerts', 'custom', 'drift', 'experiments', 'growth', 'kpis', 'model_versions', 'pareto']
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bizmodel.monitor.alerts import DEFAULT_RULES, evaluate_rules
from bizmodel.monitor.drift import DriftReport, prediction_drift, text_drift
from bizmodel.monitor.kpi import compute_kpis
from bizmodel.simulate.market import (
    MarketConfig,
    MarketData,
    simulate_market,
)


def _analyses(data: MarketData) -> dict[str, Any]:
    """Experiments, growth fit and Pareto front by the real engines (as the flywheel runs them:
    :mod:`bizmodel.flywheel.business`), on the simulated market instead of a store."""
    import tempfile
    from pathlib import Path

    from bizmodel.flywheel import business
    from bizmodel.optimize import optimize, pareto
    from bizmodel.optimize.spec import Spec

    cfg = data.config
    fit = business.fit_market_growth(data.arm_days)
    lifts = business.lift_rows(business.experiment_results(data.events, [a.name for a in cfg.arms]))
    with tempfile.TemporaryDirectory() as tmp:
        fit_path = Path(tmp) / "growth_fit.json"
        fit.to_json(fit_path)
        spec = Spec.from_dict(
            business.business_spec(fit_path.name, cfg), source="demo spec", base_dir=Path(tmp)
        )
        chosen = optimize(spec)
        front = pareto(spec, ["profit_usd", "users"], points=9)
    return {
        "experiments": lifts,
        "growth": business.growth_section(fit, data.arm_days, data.truth.coefficients()),
        "pareto": business.pareto_section(front, chosen.to_dict(), "users", "profit_usd"),
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
    end = pd.Timestamp(cfg.start, tz="UTC") + pd.Timedelta(days=days)  # the simulation's end
    kpis = compute_kpis(data.events, data.predictions, data.feedback, end=end)
    drift = _drift(data, days)
    alerts = evaluate_rules(DEFAULT_RULES, kpis=kpis, drift=drift, all_windows=True)
    return {
        "alerts": [a.to_dict() for a in alerts],
        "custom": [_signups_by_arm(table)],
        "kpis": kpis.to_dict(),
        **_analyses(data),
        "model_versions": _versions(data),
        "drift": drift.to_dict(),
    }
