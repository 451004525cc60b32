import json
import os
import re

import numpy as np
import pytest
import statsmodels.api as sm

from bizmodel.errors import DataError
from bizmodel.report import build_report, sections_from_data, write_atomic
from bizmodel.report.sections import (
    SECTION_KEYS,
    drift_section,
    experiment_lifts_section,
    growth_curve_section,
    kpi_trends_section,
    model_versions_section,
    pareto_section,
)


def _xy(trace: dict) -> tuple[list, list]:
    return trace.get("x", []), trace.get("y", [])


def test_every_section_from_demo_data_has_traces_with_data(demo_data) -> None:
    sections = sections_from_data(demo_data)
    keys = [s.key for s in sections]
    assert [k if k in SECTION_KEYS else "custom" for k in keys] == list(SECTION_KEYS)
    for s in sections:
        assert s.figures or s.key == "alerts", s.key
        for fig in s.figures:
            traces = fig["data"]
            assert traces and all(len(_xy(t)[0]) > 0 and len(_xy(t)[1]) > 0 for t in traces), s.key
            json.dumps(s.to_dict(), allow_nan=False)  # strict JSON


def test_forest_plot_error_bars_match_the_intervals() -> None:
    s = experiment_lifts_section(
        [
            {"name": "B", "lift": 0.10, "ci_low": 0.02, "ci_high": 0.20, "p_value": 0.01},
            {"name": "C", "lift": -0.05, "ci_low": -0.12, "ci_high": 0.01},
        ]
    )
    trace = s.figures[0]["data"][0]
    assert trace["x"] == [0.10, -0.05] and trace["y"] == ["B", "C"]
    assert trace["error_x"]["array"] == pytest.approx([0.10, 0.06])
    assert trace["error_x"]["arrayminus"] == pytest.approx([0.08, 0.07])
    assert trace["marker"]["color"] == ["#2ca02c", "#7f7f7f"]  # significant up, inconclusive
    assert s.table[0]["p_value"] == 0.01 and s.table[1]["p_value"] is None


def test_kpi_section_accepts_report_dict_and_selects_names(demo_data) -> None:
    s = kpi_trends_section(demo_data["kpis"], names=["revenue_usd", "churn_rate"])
    assert [t["name"] for t in s.figures[0]["data"]] == ["Revenue (USD)", "Churn rate (%)"]
    churn = s.figures[0]["data"][1]["y"]
    assert churn[0] is None  # NaN (no previous window) travels as null
    symbols = s.figures[0]["data"][0]["marker"]["symbol"]
    assert set(symbols) == {"circle"}  # the simulated days are all complete
    partial = {
        "kpis": [
            {
                "name": "x",
                "points": [
                    {"start": "2026-01-01", "value": 1.0},
                    {"start": "2026-01-02", "value": 2.0, "complete": False},
                ],
            }
        ]
    }
    assert kpi_trends_section(partial).figures[0]["data"][0]["marker"]["symbol"] == [
        "circle",
        "circle-open",
    ]
    with pytest.raises(DataError, match=r"unknown KPI\(s\) \['dau'\]"):
        kpi_trends_section(demo_data["kpis"], names=["dau"])


def test_growth_band_from_demo_fit_matches_statsmodels(demo_data) -> None:
    # the demo's growth fit (bizmodel.growth) against statsmodels' GLM on the same table
    from bizmodel.simulate.market import LEVERS, MarketConfig, simulate_market

    table = simulate_market(MarketConfig(days=14, seed=0, long_text_from_day=7)).arm_days
    x = table[list(LEVERS)].to_numpy(dtype=float)
    y = table["new_users"].to_numpy(dtype=float)
    ref = sm.GLM(y, sm.add_constant(x), family=sm.families.Poisson()).fit()
    coefs = {c["name"]: c for c in demo_data["growth"]["coefficients"]}
    assert coefs["price_usd"]["estimate"] == pytest.approx(ref.params[1], rel=1e-6)
    lo, hi = ref.conf_int(0.05)[1]
    assert (coefs["price_usd"]["ci_low"], coefs["price_usd"]["ci_high"]) == pytest.approx(
        (lo, hi), rel=1e-5
    )
    g = demo_data["growth"]
    assert all(lo <= m <= hi for lo, m, hi in zip(g["lower"], g["mean"], g["upper"], strict=True))


def test_pareto_front_is_non_dominated_and_does_not_dominate_the_choice(demo_data) -> None:
    p = demo_data["pareto"]
    front = [(q[p["x"]], q[p["y"]]) for q in p["front"]]
    for a in front:
        assert not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in front)
    c = (p["chosen"][p["x"]], p["chosen"][p["y"]])  # the constrained optimum: also efficient
    assert not any(b[0] > c[0] * (1 + 1e-6) and b[1] > c[1] * (1 + 1e-6) for b in front)
    s = pareto_section(**p)
    names = [t["name"] for t in s.figures[0]["data"]]
    assert names[-2:] == ["Pareto front", "recommended"]


def test_drift_and_versions_sections(demo_data) -> None:
    s = drift_section(demo_data["drift"])
    assert s.figures[0]["data"][0]["x"] == ["length_chars", "length_tokens", "model_output"]
    assert "Overall: major" in s.description
    v = model_versions_section(demo_data["model_versions"])
    assert v.figures[0]["data"][0]["marker"]["color"] == ["#1f77b4", "#ff7f0e"]  # champion orange


def test_alerts_section_is_a_table() -> None:
    from bizmodel.report.sections import alerts_section

    s = alerts_section([{"rule": "r", "message": "m", "severity": "warning", "value": 1.5}])
    assert s.figures == () and s.table[0]["severity"] == "warning" and s.table[0]["subject"] is None
    assert alerts_section([]).description == "No alert fired."


def test_builders_reject_bad_input_naming_the_problem() -> None:
    with pytest.raises(DataError, match=r"lifts\[0\]: missing key\(s\) \['ci_high'\]"):
        experiment_lifts_section([{"name": "B", "lift": 0.1, "ci_low": 0.0}])
    with pytest.raises(DataError, match="must have equal lengths; got x 2, y 2, curve"):
        growth_curve_section(x=[1, 2], y=[1, 2], curve_x=[1, 2], mean=[1], lower=[1], upper=[1])
    with pytest.raises(DataError, match=r"unknown section key\(s\) \['funnel'\]"):
        sections_from_data({"funnel": []})
    with pytest.raises(DataError, match="no features in the drift report"):
        drift_section({"features": []})
    with pytest.raises(DataError, match="build_report: no sections"):
        build_report([])


def test_report_is_one_self_contained_file(demo_data, tmp_path) -> None:
    out = tmp_path / "report.html"
    html = build_report(demo_data, title="Demo <market>", output=out)
    assert out.read_text(encoding="utf-8") == html
    assert "Demo &lt;market&gt;" in html  # titles are escaped
    assert html.count("<script>") == 2  # plotly.js once, the figures once
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(?!data:)", html)  # nothing fetched
    for key in (k if k != "custom" else "signups_by_arm" for k in SECTION_KEYS):
        assert f'id="section-{key}"' in html
        assert (f'id="chart-{key}-0"' in html) == (key != "alerts")
    assert "input drift (major): length_chars drifted" in html  # the alerts table
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary file left behind


def test_write_atomic_keeps_old_file_on_failure(tmp_path) -> None:
    target = tmp_path / "r.html"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, np.array([1]))  # type: ignore[arg-type]
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["r.html"]
    with pytest.raises(DataError, match="is a folder"):
        write_atomic(tmp_path, "x")
    with pytest.raises(DataError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "r.html", "x")


def test_kpi_without_any_value_is_left_out_and_named() -> None:
    # a regression model has no live_accuracy: no empty axes 0-4 for it
    pts = [{"start": "2026-01-01", "value": None}, {"start": "2026-01-02", "value": None}]
    s = kpi_trends_section(
        [
            {"name": "live_accuracy", "unit": "share", "points": pts},
            {"name": "live_mae", "unit": "target units", "points": [{"start": "x", "value": 0.2}]},
        ]
    )
    assert [t["name"] for t in s.figures[0]["data"]] == ["Live MAE (target units)"]
    assert s.notes == ("Not shown, no value in any window: Live accuracy (%).",)


def test_pareto_points_are_labelled_by_their_own_levers() -> None:
    front = [
        {"users": 100.0, "profit_usd": 50.0, "model": "large", "price_usd": 9.5},
        {"users": 80.0, "profit_usd": 90.0, "model": "large", "price_usd": 14.0},
    ]
    s = pareto_section(front=front, chosen=front[1], x="users", y="profit_usd", label="model")
    trace = s.figures[0]["data"][0]
    assert trace["text"] == ["$14.00", "$9.50"]  # the model is "large" everywhere: not a label
    layout = s.figures[0]["layout"]
    assert layout["yaxis"]["tickformat"] == "$,.3~r" and layout["yaxis"]["title"]["text"] == (
        "Profit (USD)"
    )
