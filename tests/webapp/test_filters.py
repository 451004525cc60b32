"""The time range and segment every page honours, checked against counts made by hand from
the events the fixture posts; bad ranges are one-line 422s, never 5xx."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from bizmodel.errors import ConfigError
from bizmodel.webapp.filters import Filters

BAD = [
    ({"days": "5"}, "days: got 5; valid: 7, 30, 90"),
    ({"days": "week"}, "days: got week; valid: 7, 30, 90"),
    ({"from": "2026-03-09", "to": "2026-03-01"}, "from 2026-03-09 is after to 2026-03-01"),
    ({"from": "2026-03-01"}, "to: missing; a custom range needs both from and to"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from: got '2026-02-30'; valid: a date"),
    ({"from": "2024-01-01", "to": "2026-03-01"}, "spans 791 days; valid: at most 366"),
    ({"segment": "checkout"}, "segment: got 'checkout'; valid: EXPERIMENT=ARM or PROPERTY"),
    ({"segment": "plan=pro"}, "'plan' is neither an experiment nor a property of any event"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_a_bad_filter_is_a_one_line_422_on_every_page(client, params, message) -> None:
    for path in ("/", "/experiments", "/experiments/checkout", "/models", "/business"):
        r = client.get(path, params=params)
        assert r.status_code == 422, (path, r.status_code)
        [shown] = re.findall(r'role="alert"><p>(.*?)</p>', r.text)
        assert message in shown.replace("&#39;", "'") and "\n" not in shown
        assert f'<a href="{path}">Open this page without the filters</a>' in r.text
    r = client.get("/api/monitoring", params=params)
    assert r.status_code == 422 and message in r.json()["detail"]


def test_parse_keeps_what_links_need() -> None:
    f = Filters.parse({"from": "2026-03-01", "to": "2026-03-30", "segment": "arm=b"})
    assert (f.custom, f.n_days, f.segment_parts()) == (True, 30, ("arm", "b"))
    assert Filters.parse(f.params()) == f
    assert f.query(days=7) == "?days=7&segment=arm%3Db"  # a preset drops the custom range
    assert f.query(segment="") == "?from=2026-03-01&to=2026-03-30"
    with pytest.raises(ConfigError, match=r"^to: missing"):
        Filters.parse({"from": "2026-03-01", "to": ""})


def _value(html: str, element_id: str) -> float:
    m = re.search(rf'id="{element_id}".*?data-value="([^"]*)"', html, re.S)
    assert m, element_id
    return float(m.group(1))


def _by_hand(
    events: list[dict[str, Any]], since: dt.datetime, until: dt.datetime, arm: str | None
) -> dict[str, Any]:
    """Revenue, active users and first exposures per arm in [since, until), from the events."""
    arm_of = {e["user_id"]: e["variant"] for e in events if e.get("variant")}
    rows = [
        e
        for e in events
        if since <= dt.datetime.fromisoformat(e["ts"]) < until
        and (arm is None or arm_of[e["user_id"]] == arm)
    ]
    exposed: dict[str, int] = {}
    for e in rows:
        if e.get("variant"):
            exposed[e["variant"]] = exposed.get(e["variant"], 0) + 1
    return {
        "revenue": sum(e["value"] for e in rows if e["type"] == "purchase"),
        "users": len({e["user_id"] for e in rows}),
        "exposed": exposed,
    }


END = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)


def test_overview_follows_range_and_segment(client, project_events) -> None:
    for params, since, until, arm in [
        ({"days": 30}, END - dt.timedelta(days=30), END, None),
        ({"days": 30, "segment": "checkout=b"}, END - dt.timedelta(days=30), END, "b"),
        ({"days": 7, "segment": "arm=a"}, END - dt.timedelta(days=7), END, "a"),  # a property
        (
            {"from": "2026-03-05", "to": "2026-03-11", "segment": "checkout=a"},
            dt.datetime(2026, 3, 5, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 12, tzinfo=dt.UTC),
            "a",
        ),
    ]:
        html = client.get("/", params=params).text
        expected = _by_hand(project_events, since, until, arm)
        assert _value(html, "kpi-revenue_usd") == pytest.approx(expected["revenue"]), params
        assert _value(html, "kpi-active_users") == expected["users"], params
    # the links keep the filters
    html = client.get("/", params={"days": 7, "segment": "checkout=b"}).text
    assert 'href="/monitoring?days=7&amp;segment=checkout%3Db"' in html
    assert '<option value="checkout=b" selected>checkout: arm b</option>' in html


def test_experiments_count_exposures_in_range_and_segment(client, project_events) -> None:
    expected = _by_hand(project_events, END - dt.timedelta(days=7), END, None)["exposed"]
    html = client.get("/experiments", params={"days": 7}).text
    row = html.split("/experiments/checkout")[1].split("</tr>")[0]
    assert f"a ({expected['a']})" in row and f"b ({expected['b']})" in row
    html = client.get("/experiments", params={"days": 90, "segment": "checkout=b"}).text
    row = html.split("/experiments/checkout")[1].split("</tr>")[0]
    only_b = _by_hand(project_events, END - dt.timedelta(days=90), END, "b")["exposed"]["b"]
    assert "a (0)" in row and f"b ({only_b})" in row


def test_models_show_what_was_served_in_the_range(api_project: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.webapp import create_app

    c = TestClient(create_app(Settings.load(api_project)))

    def served(**params: Any) -> int:
        m = re.search(r'data-served="(\d+)"', c.get("/models", params=params).text)
        assert m
        return int(m.group(1))

    # 14 days x 2 requests x 12 headlines; half of them to arm b's users; 6 days in range
    assert served(days=30) == 336 and served(days=30, segment="checkout=b") == 168
    assert served(**{"from": "2026-03-25", "to": "2026-03-30"}) == 144
    assert served(**{"from": "2026-01-01", "to": "2026-01-31"}) == 0


def test_margin_subtracts_every_cost_of_the_spec(client, project: Path) -> None:
    from bizmodel.optimize import evaluate_plan, load_spec

    spec = load_spec(project / "business_spec.toml")
    levers = {"price_usd": 30.0, "ad_spend_usd": 9000.0, "model": "small"}
    q = evaluate_plan(spec, levers).quantities
    html = client.get("/business", params=levers).text
    # the spec's own margin: (revenue - ad spend - requests x inference cost) / revenue
    by_hand = (q["revenue_usd"] - 9000.0 - q["requests"] * 0.0004) / q["revenue_usd"]
    assert _value(html, "plan-margin") == pytest.approx(by_hand, rel=1e-12)
    assert _value(html, "plan-margin") == pytest.approx(q["margin"], rel=1e-12)
    assert "Costs included: ad_spend_usd, requests * inference_cost_usd" in html
    overview = client.get("/").text  # the store measures compute only: the plan's margin
    assert 'id="margin"' in overview and "Costs included: ad_spend_usd" in overview
    assert 'id="kpi-gross_margin"' not in overview


def test_a_broken_spec_leaves_the_overview_alone(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.webapp import create_app

    (tmp_path / "business_spec.toml").write_text("[levers.price_usd]\nmin = 5.0\n")
    c = TestClient(create_app(Settings.load(tmp_path)))
    assert c.get("/").status_code == 200  # no margin card, the KPIs as ever
    r = c.get("/business")
    assert r.status_code == 422 and "levers.price_usd" in r.text
