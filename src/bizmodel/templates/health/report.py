"""The health template's report sections: calibration, risk bands, KPIs, growth and Pareto.

Each function turns run results into the report's input shapes (``custom`` sections as
``Section.to_dict()`` dicts, ``growth`` and ``pareto`` keyword dicts); nothing here computes a
statistic that another module owns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.templates.health.advice import BAND_ADVICE, DISCLAIMER, band_index

_NOTE = f"{DISCLAIMER} Outcomes and members are generated (bizmodel, CC0)."


def calibration_section(fits: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Reliability diagram (test split) and the score table of both models, before and after."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect calibration",
            line={"dash": "dot", "color": "#7f7f7f"},
        )
    )
    for name, b in fits["bins"].items():
        keep = [i for i, n in enumerate(b["count"]) if n > 0]
        fig.add_trace(
            go.Scatter(
                x=[b["mean_prob"][i] for i in keep],
                y=[b["event_rate"][i] for i in keep],
                mode="lines+markers",
                name=f"{name} (ECE {b['ece']:.3f})",
                text=[f"n={b['count'][i]}" for i in keep],
            )
        )
    fig.update_layout(
        template="plotly_white",
        height=420,
        xaxis_title="mean predicted probability (bin)",
        yaxis_title="observed event rate (bin)",
        legend={"orientation": "h", "y": -0.25},
    )
    n = fits["n"]
    return {
        "key": "health_calibration",
        "title": "Risk model: calibration curve and scores",
        "description": (
            f"Test split ({n['test']} members). Logistic models trained on {n['fit']} members "
            "with balanced class weights (uncalibrated), then calibrated on "
            f"{n['calibration']} held-out members ({method} used for serving; isotonic and "
            "Platt both scored). 'fields + notes' adds the fine-tuned MiniLM's log-odds "
            f"(trained on {n['text']} scrubbed notes) as a feature; 'structured' is the "
            "baseline. ECE: 10 equal-width bins."
        ),
        "figures": [fig],
        "table": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in fits["rows"]
        ],
        "notes": [_NOTE],
    }


def bands_section(
    fits: Mapping[str, Any], sim: pd.DataFrame, cutoffs: Sequence[float], bands: Sequence[str]
) -> dict[str, Any]:
    """Members per risk band (test split and served members) and the test event rate per band."""
    import plotly.graph_objects as go

    p, y = fits["test_prob"]["fields + notes"], fits["test_y"]
    idx = band_index(p, cutoffs)
    served = sim["band"].value_counts() if len(sim) else pd.Series(dtype=int)
    edges = [0.0, *cutoffs, 1.0]
    rows = []
    for i, b in enumerate(bands):
        sel = idx == i
        rows.append(
            {
                "band": b,
                "probability": f"[{edges[i]:.2f}, {edges[i + 1]:.2f})",
                "test_members": int(sel.sum()),
                "test_event_rate": round(float(y[sel].mean()), 4) if sel.any() else None,
                "served_members": int(served.get(b, 0)),
                "advice": BAND_ADVICE.get(b, ""),
            }
        )
    fig = go.Figure(
        [
            go.Bar(x=list(bands), y=[r["served_members"] for r in rows], name="served members"),
            go.Bar(x=list(bands), y=[r["test_members"] for r in rows], name="test split"),
        ]
    )
    fig.update_layout(
        template="plotly_white",
        height=380,
        barmode="group",
        yaxis_title="members",
        legend={"orientation": "h", "y": -0.2},
    )
    return {
        "key": "health_bands",
        "title": "Risk band distribution",
        "description": (
            "Cut-offs on the calibrated probability; the event rate of the test "
            "split should rise from band to band. Advice adds one sentence per field "
            "outside its healthy range (smoking, BMI >= 30, systolic BP >= 140, "
            "fewer than 3 active days)."
        ),
        "figures": [fig],
        "table": rows,
        "notes": [_NOTE],
    }


def kpi_section(sim: pd.DataFrame, kpis: Mapping[str, Any]) -> dict[str, Any]:
    """Engaged members and predicted-risk reduction per day and per arm."""
    import plotly.graph_objects as go

    fig = go.Figure()
    table: list[dict[str, Any]] = []
    if len(sim):
        daily = (
            sim.groupby("date")
            .agg(
                engaged=("engaged", "sum"),
                predicted=("predicted_reduction", "sum"),
                true=("true_reduction", "sum"),
            )
            .reset_index()
        )
        fig.add_trace(go.Bar(x=daily["date"], y=daily["engaged"], name="engaged members"))
        fig.add_trace(
            go.Scatter(
                x=daily["date"],
                y=daily["predicted"],
                yaxis="y2",
                name="predicted-risk reduction (events)",
                mode="lines+markers",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=daily["date"],
                y=daily["true"],
                yaxis="y2",
                name="simulated true reduction",
                mode="lines",
                line={"dash": "dot"},
            )
        )
        per_arm = (
            sim.groupby("arm")
            .agg(
                members=("member_id", "count"),
                contacted=("contacted", "sum"),
                engaged=("engaged", "sum"),
                predicted_reduction=("predicted_reduction", "sum"),
                true_reduction=("true_reduction", "sum"),
                mean_probability=("probability", "mean"),
            )
            .reset_index()
        )
        table = [
            {
                str(k): (
                    round(float(v), 3)
                    if isinstance(v, float | np.floating)
                    else (int(v) if isinstance(v, np.integer) else v)
                )
                for k, v in r.items()
            }
            for r in per_arm.to_dict("records")
        ]
    fig.update_layout(
        template="plotly_white",
        height=400,
        yaxis_title="engaged members per day",
        yaxis2={"title": "events avoided (expected)", "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "y": -0.2},
    )
    return {
        "key": "health_kpis",
        "title": "KPIs: engaged members and predicted-risk reduction",
        "description": (
            f"{kpis['members']} members enrolled, {kpis['engaged_members']} engaged; "
            f"predicted-risk reduction {kpis['predicted_risk_reduction']:.1f} expected events "
            f"(from the stored 'engaged' events), simulated truth "
            f"{kpis['true_risk_reduction']:.1f}. Calls go to the highest predicted risks first."
        ),
        "figures": [fig],
        "table": table,
        "notes": [_NOTE],
    }


def custom_sections_for(
    fits: Mapping[str, Any],
    sim: pd.DataFrame,
    kpis: Mapping[str, Any],
    cutoffs: Sequence[float],
    bands: Sequence[str],
    method: str,
) -> list[dict[str, Any]]:
    """The template's own sections as JSON-able dicts (figures converted by the report module)."""
    from bizmodel.report.sections import custom_sections

    items = [
        calibration_section(fits, method),
        bands_section(fits, sim, cutoffs, bands),
        kpi_section(sim, kpis),
    ]
    return [s.to_dict() for s in custom_sections(items)]


def growth_input(fit: Any, arm_days: pd.DataFrame, truth: Mapping[str, float]) -> dict[str, Any]:
    """``growth_curve_section`` keywords: new members vs outreach at the middle price arm."""
    from bizmodel.flywheel.business import growth_section

    arms = sorted(arm_days["arm"].unique())
    arm = arms[len(arms) // 2]
    price = float(arm_days.loc[arm_days["arm"] == arm, "price_usd"].iloc[0])
    out = growth_section(
        fit,
        arm_days,
        truth,
        x="outreach_usd",
        x_label="daily outreach budget (USD)",
        y_label=f"new members per day, arm {arm} (${price:g}/month)",
        arm=arm,
    )
    out["title"] = "Enrolment vs outreach budget (Poisson fit, simulated truth in the table)"
    return out


def pareto_input(front: Any, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """``pareto_section`` keywords: profit vs predicted-risk reduction."""
    from bizmodel.flywheel.business import pareto_section

    out = pareto_section(front, chosen, "risk_reduction", "profit_usd")
    out["label"] = None  # no model choice among this template's levers
    out["title"] = "Pareto front: profit vs predicted-risk reduction per day"
    return out


__all__ = [
    "bands_section",
    "calibration_section",
    "custom_sections_for",
    "growth_input",
    "kpi_section",
    "pareto_input",
]
