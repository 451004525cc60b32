"""The education project's business-model spec and its own report sections (mastery curves,
recommendation-policy lift, BKT vs fine-tuned model, fitted vs true BKT parameters).

Business model (one day of the product):

.. math::

    users = R(price, budget) = \\exp(b + a_p · price + a_c · budget), \\\\
    months = 1 / churn, \\quad churn = churn_0 · \\exp(−k · gain), \\\\
    revenue = users · months · price, \\quad
    cost = budget + users · months · serve, \\quad profit = revenue − cost

``R`` is the growth fit of the simulated subscribers; ``gain`` the learning gain of the ZPD
policy measured in the A/B (share of skills mastered), so better teaching keeps subscribers
longer; ``serve`` the serving cost per subscriber-month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.flywheel import business
from bizmodel.growth import GrowthFit

CHURN_BASE = 0.25  # monthly churn without learning gain (assumption, documented)
CHURN_GAIN = 1.5  # k: churn falls by exp(−k·gain)
SERVE_USD_PER_MONTH = 0.4  # serving + support per subscriber-month (assumption)
POLICY_COLOURS = {"random": "#7f7f7f", "zpd": "#1f77b4", "easiest": "#ff7f0e"}


def business_spec(
    fit_path: str, *, learning_gain: float, min_margin: float = 0.3, growth_weight: float = 5.0
) -> dict[str, Any]:
    """The business-model spec (levers: monthly price, daily content budget).

    Examples
    --------
    >>> sorted(business_spec("growth_fit.json", learning_gain=0.4)["levers"])
    ['content_budget_usd', 'price_usd']
    """
    return {
        "levers": {
            "price_usd": {"min": 5.0, "max": 40.0},
            "content_budget_usd": {"min": 200.0, "max": 2000.0},
        },
        "growth": {"fit": str(fit_path)},
        "constants": {
            "churn_base": CHURN_BASE,
            "churn_gain": CHURN_GAIN,
            "learning_gain": float(learning_gain),
            "serve_usd_per_month": SERVE_USD_PER_MONTH,
        },
        "quantities": {
            "users": "growth",
            "months": "1 / (churn_base * exp(-churn_gain * learning_gain))",
            "revenue_usd": "users * months * price_usd",
            "cost_usd": "content_budget_usd + users * months * serve_usd_per_month",
            "profit_usd": "revenue_usd - cost_usd",
            "margin": "profit_usd / revenue_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0, "users": growth_weight}},
        "constraints": [{"expr": f"margin >= {min_margin}"}],
    }


def growth_section(fit: GrowthFit, arm_days: pd.DataFrame, truth: Mapping[str, float]) -> dict:
    """Report input: sign-ups vs daily content budget for the first arm's price."""
    price = float(arm_days.iloc[0]["price_usd"])
    return business.growth_section(
        fit,
        arm_days,
        truth,
        x="content_budget_usd",
        x_label="daily content-production budget (USD)",
        y_label=f"new subscribers per day, arm {arm_days.iloc[0]['arm']} (${price:g}/month)",
    )


def _scatter(x: Sequence[Any], y: Sequence[Any], name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "x": list(x), "y": list(y), "name": name, **extra}


def sections(
    *,
    fits: Mapping[str, Any],
    comparison: Mapping[str, Mapping[str, float]],
    y: np.ndarray,
    p_bkt: np.ndarray,
    p_model: np.ndarray,
    policy_run: Any,
    ab: Any,
    band: tuple[float, float],
) -> list[dict[str, Any]]:
    """The template's report sections, in ``Section.to_dict()`` shape (plain JSON)."""
    from sklearn.metrics import roc_curve

    from bizmodel.report.section import _layout
    from bizmodel.templates.education.simulate import SKILL_TRUTH

    curves = policy_run.curves
    mastery_fig = {
        "data": [
            _scatter(
                g["step"].tolist(),
                g[col].astype(float).tolist(),
                f"{arm} ({label})",
                line={"color": POLICY_COLOURS.get(str(arm)), "dash": dash},
            )
            for arm, g in curves.groupby("arm", sort=False)
            for col, label, dash in (
                ("true_mastery", "true", "solid"),
                ("estimated_mastery", "BKT estimate", "dot"),
            )
        ],
        "layout": _layout(
            title={"text": "Mastery curves by recommendation policy"},
            xaxis={"title": {"text": "practice items"}},
            yaxis={"title": {"text": "mean share of skills mastered"}, "range": [0, 1]},
            height=420,
        ),
    }
    comps = list(ab.comparisons)
    forest_fig = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": [c.estimate for c in comps],
                "y": [f"{c.arm} − {c.control}" for c in comps],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [c.ci_high - c.estimate for c in comps],
                    "arrayminus": [c.estimate - c.ci_low for c in comps],
                },
                "name": "difference in learning gain (95% CI)",
            }
        ],
        "layout": _layout(
            title={"text": "Recommendation policy lift on learning gain (vs random)"},
            xaxis={"title": {"text": "difference in mastered share of skills (95% CI)"}},
            yaxis={"automargin": True},
            height=max(220, 60 * len(comps) + 120),
            shapes=[
                {
                    "type": "line",
                    "x0": 0,
                    "x1": 0,
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"dash": "dash"},
                }
            ],
        ),
    }
    roc = []
    for name, p in (("BKT", p_bkt), ("fine-tuned MiniLM", p_model)):
        fpr, tpr, _ = roc_curve(y, p)
        roc.append(
            _scatter(
                fpr.tolist(), tpr.tolist(), f"{name} (AUC {comparison[_key(name)]['auc']:.3f})"
            )
        )
    roc.append(_scatter([0, 1], [0, 1], "chance", line={"dash": "dash", "color": "#999"}))
    roc_fig = {
        "data": roc,
        "layout": _layout(
            title={"text": "Held-out next-answer prediction: ROC"},
            xaxis={"title": {"text": "false positive rate"}, "range": [0, 1]},
            yaxis={"title": {"text": "true positive rate"}, "range": [0, 1]},
            height=420,
        ),
    }
    policy_table = [
        {
            "policy": c.arm,
            "vs": c.control,
            "difference": round(c.estimate, 4),
            "ci_low": round(c.ci_low, 4),
            "ci_high": round(c.ci_high, 4),
            "p_value": float(f"{c.p_value:.3g}"),
            "mean_gain": round(c.mean_treatment, 4),
            "control_gain": round(c.mean_control, 4),
        }
        for c in comps
    ]
    return [
        {
            "key": "education_mastery_curves",
            "title": "Mastery curves",
            "description": (
                "Simulated learners (ground truth: BKT with known per-skill parameters and "
                "prerequisites) practising under each recommendation policy; solid: true mean "
                "share of skills mastered, dotted: the BKT tracker's estimate."
            ),
            "figures": [mastery_fig],
        },
        {
            "key": "education_policy_lift",
            "title": "Recommendation policy lift",
            "description": (
                f"Online A/B on simulated learners: zone of proximal development (expected "
                f"success in [{band[0]:g}, {band[1]:g}]) and easiest-first against random, "
                "on learning gain (post − pre share of skills mastered), Welch t-test with "
                "Holm correction (bizmodel.stats)."
            ),
            "figures": [forest_fig],
            "table": policy_table,
        },
        {
            "key": "education_model_comparison",
            "title": "BKT vs fine-tuned model",
            "description": (
                "Next-answer correctness on held-out learners: BKT (EM per skill) against "
                "MiniLM fine-tuned on the recent history rendered as text, served over HTTP."
            ),
            "figures": [roc_fig],
            "table": [
                {"model": name, **{k: round(float(v), 4) for k, v in comparison[key].items()}}
                for name, key in (("BKT", "bkt"), ("fine-tuned MiniLM", "transformer"))
            ],
        },
        {
            "key": "education_bkt_params",
            "title": "BKT parameters: fitted vs simulation truth",
            "description": (
                "Fitted on the training learners' histories. The simulated learners also "
                "learn more slowly while a prerequisite is unknown, which plain BKT does not "
                "model, and each learner meets each skill only a few times, so the fit "
                "differs from the truth here; on pure-BKT learners the tests recover it."
            ),
            "table": [
                {
                    "skill": s,
                    **{
                        f"{k}": round(getattr(f.params, k), 3)
                        for k in ("prior", "learn", "guess", "slip")
                    },
                    **{
                        f"{k}_truth": getattr(SKILL_TRUTH[s], k)
                        for k in ("prior", "learn", "guess", "slip")
                    },
                }
                for s, f in fits.items()
            ],
        },
    ]


def _key(name: str) -> str:
    return "bkt" if name == "BKT" else "transformer"


__all__ = ["business_spec", "growth_section", "sections"]
