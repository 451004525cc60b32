"""Every page on a small project, with at least one number checked against the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape as html_escape

from bizmodel.cli import run
from bizmodel.optimize import evaluate_plan, load_spec


def _cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def _data_value(html: str, element_id: str) -> float:
    m = re.search(rf'id="{element_id}".*?data-value="([^"]*)"', html, re.S)
    assert m, f"{element_id} not on the page"
    return float(m.group(1))


def test_overview_tiles_equal_monitor_and_follow_the_time_range(
    client, project: Path, capsys
) -> None:
    pages = {days: client.get(f"/?days={days}") for days in (7, 30)}
    assert all(p.status_code == 200 for p in pages.values())
    html = pages[30].text
    assert "Revenue (USD)" in html and "Conversion rate (%)" in html
    # no prediction served: no accuracy, latency, compute cost or margin of compute
    assert "Live accuracy" not in html and "Latency" not in html
    assert 'id="kpi-gross_margin"' not in html
    # the same period through the CLI: two 30-day windows ending at midnight after the last event
    out = _cli_json(
        capsys,
        "monitor", "--project", str(project), "--since", "2026-01-30", "--until", "2026-03-31",
        "--window", "30D", "--json",
    )  # fmt: skip
    revenue = next(k for k in out["kpis"]["kpis"] if k["name"] == "revenue_usd")
    assert _data_value(html, "kpi-revenue_usd") == pytest.approx(revenue["points"][-1]["value"])
    assert re.search(r'id="kpi-revenue_usd".*?\$[\d,]+', html, re.S)
    # growing traffic: the last week has fewer users than the last month, and more than before
    assert _data_value(pages[7].text, "kpi-active_users") < _data_value(html, "kpi-active_users")
    assert 'aria-current="true">Last 7 days' in pages[7].text


def test_unknown_time_range_is_refused(client) -> None:
    r = client.get("/?days=5")
    assert r.status_code == 422 and "days: got 5; valid: 7, 30, 90" in r.text


def test_experiments_list(client) -> None:
    html = client.get("/experiments").text
    assert '<a href="/experiments/checkout?days=30">checkout</a>' in html
    assert "New checkout page" in html
    row = html.split("/experiments/checkout")[1].split("</tr>")[0]
    assert "a (" in row and "b (" in row and "ok" in row
    pricing = html.split("/experiments/pricing")[1].split("</tr>")[0]
    assert "no exposures" in pricing


def test_experiment_page_shows_the_numbers_of_ab_test(client, project: Path, capsys) -> None:
    cli = _cli_json(
        capsys, "ab-test", "--project", str(project), "--experiment", "checkout", "--json"
    )
    api = client.get("/api/experiments/checkout").json()
    assert api["results"] == json.loads(json.dumps(cli))  # same function, same numbers
    html = client.get("/experiments/checkout").text
    lift = next(r for r in cli if r["metric"] == "converted")["comparisons"][0]["estimate"]
    assert f"{lift * 100:+.1f}%" in html
    assert 'id="chart-lift-0"' in html and '<script src="/static/plotly.min.js">' in html


def test_experiment_without_exposures_says_so(client) -> None:
    r = client.get("/experiments/pricing")
    assert r.status_code == 200 and "has no exposures yet" in r.text


def test_unknown_experiment_is_404(client) -> None:
    r = client.get("/experiments/nope")
    assert r.status_code == 404 and "no experiment named &#39;nope&#39;" in r.text
    assert client.get("/api/experiments/nope").json() == {
        "error": "not_found_error",
        "detail": "no experiment named 'nope'",
    }


def test_models_page(client) -> None:
    html = client.get("/models").text
    row = html.split("advisor v1")[1].split("</tr>")[0]
    assert "production" in row
    # 2.0 CPU-s per 1k (given by the fixture) at the default $/CPU-hour
    from bizmodel.config import ServerSettings

    usd = 2.0 * ServerSettings().cpu_usd_per_hour / 3600
    assert _data_value(html, "models") == pytest.approx(usd)
    assert "given in test, not measured" in row


def test_whatif_matches_evaluate_plan(client, project: Path) -> None:
    spec = load_spec(project / "business_spec.toml")
    levers = {"price_usd": 30.0, "ad_spend_usd": 9000.0, "model": "small"}
    body = client.post("/api/whatif", json={"levers": levers}).json()
    expected = evaluate_plan(spec, levers)
    assert body["evaluation"]["objective"] == pytest.approx(expected.objective, rel=1e-12)
    assert body["evaluation"]["quantities"] == pytest.approx(dict(expected.quantities))
    assert body["objective_gap"] > 0  # below the optimum
    binds = {c["name"]: c["binds_at_optimum"] for c in body["constraints"]}
    assert binds == {"margin >= 0.4": False, "ad_spend_usd <= 15000": True}
    # the page (no JavaScript) shows the same objective
    page = client.get("/business", params=levers).text
    assert _data_value(page, "objective") == pytest.approx(expected.objective)
    # the recommendation itself: no gap
    rec = client.get("/business").text
    assert "this is the recommendation" in rec


def test_whatif_rejects_a_bad_lever(client) -> None:
    r = client.post("/api/whatif", json={"levers": {"price_usd": "cheap"}})
    assert r.status_code == 422
    assert (
        r.json()["detail"] == "lever price_usd: 'cheap' is not a number; valid: a number in [5, 80]"
    )
    r = client.post("/api/whatif", json={"levers": {"price_usd": 500}})
    assert r.status_code == 422 and "outside the bounds" in r.json()["detail"]


def test_pages_without_data(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.webapp import create_app

    c = TestClient(create_app(Settings.load(tmp_path)))
    assert "holds no events yet" in c.get("/").text
    assert "No experiment defined yet" in c.get("/experiments").text
    assert "No model registered yet" in c.get("/models").text
    assert "No business-model spec" in c.get("/business").text
    assert c.post("/api/whatif", json={}).json()["error"] == "config_error"
    assert c.get("/static/plotly.min.js").headers["content-type"].startswith("text/javascript")


def test_experiment_declared_only_in_the_project_file(tmp_path: Path, capsys) -> None:
    """An experiment declared in bizmodel.toml whose exposures are imported events (no
    POST /v1/experiments) is listed with its arms and counts, and its page has ab-test's
    numbers."""
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.store import EventStore
    from bizmodel.webapp import create_app

    (tmp_path / "bizmodel.toml").write_text(
        '[metrics]\nbought = { type = "any", event = "purchase" }\n'
        "[experiments.email]\n"
        'description = "Spring e-mail"\ncontrol = "none"\ngoal = ["bought"]\n'
        "arms = { mail = { email = 1 }, none = { email = 0 } }\n",
        encoding="utf-8",
    )
    store = EventStore.open(Settings.load(tmp_path).resolved_database_url())
    try:
        rows: list[dict[str, Any]] = []
        for i in range(30):
            arm = "mail" if i % 3 else "none"  # 20 mailed, 10 not
            ts = f"2026-03-{1 + i % 20:02d}T09:00:00Z"
            rows.append(
                {"user_id": f"u{i}", "type": "exposure", "ts": ts, "experiment": "email",
                 "variant": arm}
            )  # fmt: skip
            if i % 2 == 0:
                rows.append({"user_id": f"u{i}", "type": "purchase", "ts": ts, "value": 5.0})
        store.add_events(rows)
    finally:
        store.close()
    c = TestClient(create_app(Settings.load(tmp_path)))
    html = c.get("/experiments").text
    row = html.split("/experiments/email")[1].split("</tr>")[0]
    assert "Spring e-mail" in html and "declared" in row
    assert row.index("none (10)") < row.index("mail (20)")  # the control first
    cli = _cli_json(
        capsys, "ab-test", "--project", str(tmp_path), "--experiment", "email", "--json"
    )
    assert c.get("/api/experiments/email").json()["results"] == [json.loads(json.dumps(cli))]


def test_business_page_reads_the_project_spec_and_flags_a_weak_effect(
    tmp_path: Path, capsys
) -> None:
    """A spec declared in bizmodel.toml on a stored growth fit (fit-growth --project) whose
    effect is not significant: the Business page shows optimize's warning."""
    import pandas as pd
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.growth import fit_from_experiments
    from bizmodel.optimize.growth_file import stored_fit_path
    from bizmodel.webapp import create_app

    arms = {"control": {"email": 0.0}, "mail": {"email": 1.0}}
    units = pd.DataFrame(
        {"variant": ["control"] * 100 + ["mail"] * 100,
         "visit": [1.0] * 50 + [0.0] * 50 + [1.0] * 51 + [0.0] * 49}
    )  # fmt: skip
    fit = fit_from_experiments(units, "variant", "visit", arms)
    path = stored_fit_path(tmp_path, "email")
    path.parent.mkdir(parents=True)
    body = {**fit.to_dict(), "experiment": {"name": "email", "metric": "visit", "arms": arms}}
    path.write_text(json.dumps(body))
    (tmp_path / "bizmodel.toml").write_text(
        '[project]\ntitle = "shop"\n'
        "[levers]\nemail = { choices = [0, 1] }\n"
        "[constants]\ncustomers = 10000.0\n"
        '[growth]\nfrom_experiment = "email"\n'
        '[quantities]\nvisits = "growth * customers"\n'
        'profit_usd = "visits * 2.0 - email * customers * 0.05"\n'
        "[objective]\nmaximize = { profit_usd = 1.0 }\n",
        encoding="utf-8",
    )
    c = TestClient(create_app(Settings.load(tmp_path)))
    html = c.get("/business").text
    assert "Spec <code>bizmodel.toml</code>" in html and 'id="plan-warnings"' in html
    [warning] = _cli_json(capsys, "optimize", "--project", str(tmp_path), "--json")["warnings"]
    assert warning.startswith("not significant: lever 'email'")
    assert str(html_escape(warning)) in html  # as Jinja escapes it


def test_sequential_path_over_time_equals_ab_test_as_of_each_day(
    client, project: Path, capsys
) -> None:
    """Each point is the sequential ab-test on the exposures and events before that midnight;
    the last one is `ab-test --sequential` on everything."""
    import datetime as dt

    from bizmodel.config import Settings
    from bizmodel.flywheel.experiments import analyze_project_experiment
    from bizmodel.webapp.experiments import sequential_path

    path = client.get("/api/experiments/checkout/path").json()
    assert path["metric"] == "converted"
    points = path["points"]
    days = sorted({p["as_of"] for p in points})
    assert 2 <= len(days) <= 30 and all(p["arm"] == "b" for p in points)
    users = [p["users"] for p in points]
    assert users == sorted(users)  # exposures accumulate
    cli = _cli_json(
        capsys, "ab-test", "--project", str(project), "--experiment", "checkout",
        "--metric", "converted", "--sequential", "--json",
    )  # fmt: skip
    last = points[-1]
    assert last["estimate"] == pytest.approx(cli["comparisons"][0]["estimate"], rel=1e-12)
    assert last["ci_low"] == pytest.approx(cli["comparisons"][0]["ci_low"], rel=1e-12)
    # a point in the middle: the same analysis cut at its midnight, recomputed here
    mid = points[len(points) // 2]
    cut = dt.datetime.fromisoformat(mid["as_of"]).replace(tzinfo=dt.UTC)
    [r] = analyze_project_experiment(
        Settings.load(project), "checkout", ["converted"], sequential=True, as_of=cut
    )
    assert mid["estimate"] == pytest.approx(r.comparisons[0].estimate, rel=1e-12)
    assert mid["users"] == sum(a.n for a in r.arms) < last["users"]
    assert sequential_path(Settings.load(project), "checkout", points=3)["points"][-1] == last
    page = client.get("/experiments/checkout?days=30&path=1").text
    assert 'id="chart-path"' in page and '"id": "chart-path"' in page
    assert "path=1#path" in client.get("/experiments/checkout").text
    assert client.get("/api/experiments/nope/path").status_code == 404


def test_path_api_checks_the_name_without_analysing_the_experiment(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path's 404 comes from the name alone: the whole-run analysis is never computed."""
    from bizmodel.webapp import experiments as exp_pages

    def no_analysis(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("experiment_page called")

    monkeypatch.setattr(exp_pages, "experiment_page", no_analysis)
    r = client.get("/api/experiments/nope/path")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found_error", "detail": "no experiment named 'nope'"}
    r = client.get("/api/experiments/checkout/path")
    assert r.status_code == 200 and r.json()["metric"] == "converted"
    # declared in bizmodel.toml but never stored nor exposed: known, no points yet
    from bizmodel.config import ExperimentSettings

    monkeypatch.setitem(client.app.state.settings.experiments, "later", ExperimentSettings())
    assert client.get("/api/experiments/later/path").json() == {"metric": None, "points": []}


def test_sequential_path_opens_one_store_and_builds_one_design_for_all_cuts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More cuts mean more as_of analyses, not more store opens or experiment designs."""
    from bizmodel.config import Settings
    from bizmodel.flywheel import design as design_module
    from bizmodel.flywheel import experiments as flywheel_experiments
    from bizmodel.store import EventStore
    from bizmodel.webapp.experiments import sequential_path

    calls = {"open": 0, "design": 0}
    real_open, real_design = EventStore.open, design_module.experiment_design

    def counted_open(*args: Any, **kwargs: Any) -> Any:
        calls["open"] += 1
        return real_open(*args, **kwargs)

    def counted_design(*args: Any, **kwargs: Any) -> Any:
        calls["design"] += 1
        return real_design(*args, **kwargs)

    monkeypatch.setattr(EventStore, "open", counted_open)
    monkeypatch.setattr(design_module, "experiment_design", counted_design)
    monkeypatch.setattr(flywheel_experiments, "experiment_design", counted_design)
    settings = Settings.load(project)
    for points in (3, 30):
        calls.update(open=0, design=0)
        path = sequential_path(settings, "checkout", points=points)
        assert len({p["as_of"] for p in path["points"]}) > points // 2  # many cuts analysed
        assert calls == {"open": 1, "design": 1}
