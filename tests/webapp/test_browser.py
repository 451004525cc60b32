"""The web app in a real Chromium: every page loads with no console error and no request
leaving the machine, charts have data, and the what-if levers (mouse-free) move the objective
to what evaluate_plan says.

Set BIZMODEL_WEBAPP_SCREENSHOTS=DIR to keep a PNG of each page there (docs/webapp/).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bizmodel.config import Settings
from bizmodel.optimize import evaluate_plan, load_spec
from bizmodel.webapp import create_app

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {
    "overview": "/?days=30",
    "experiments": "/experiments",
    "experiment": "/experiments/checkout",
    "models": "/models",
    "business": "/business",
    "monitoring-no-predictions": "/monitoring?days=7",
    "live": "/live/",
}


def _objective(page: Any) -> float:
    return float(page.get_attribute("#objective", "data-value"))


def test_every_page_in_chromium(
    chromium_path: str, project: Path, tmp_path: Path, serve_app
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ.get("BIZMODEL_WEBAPP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with (
        serve_app(create_app(Settings.load(project), refresh_s=60)) as base,
        sync_api.sync_playwright() as pw,
    ):
        profile = tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium_path, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800},
        )  # fmt: skip
        try:
            page = browser.new_page()
            errors: list[str] = []
            outside: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url)
                ),
            )
            for name, path in PAGES.items():
                response = page.goto(base + path)
                assert response is not None and response.status == 200, (name, response)
                charts = {"experiment": 1, "business": 2}  # forest plot; growth and Pareto
                if name in charts:
                    page.wait_for_function(
                        f"document.querySelectorAll('.js-plotly-plot').length >= {charts[name]}"
                    )
                    traces = page.evaluate(
                        "[...document.querySelectorAll('.js-plotly-plot')]"
                        ".flatMap(gd => gd.data.map(t => (t.x || []).length))"
                    )
                    assert traces and all(n > 0 for n in traces)
                if name == "live":
                    page.wait_for_function(
                        "document.getElementById('status').textContent.startsWith('Updated')"
                    )
                page.screenshot(path=str(shots / f"{name}.png"))

            # what-if: type a price, then move the ad-spend slider with the keyboard only
            page.goto(base + "/business")
            recommended = _objective(page)
            page.fill("#lever-price_usd", "30")
            page.wait_for_function(
                f"document.getElementById('objective').dataset.value != '{recommended}'"
            )
            page.focus("#range-ad_spend_usd")
            for _ in range(20):
                page.keyboard.press("ArrowLeft")
            ad = float(page.input_value("#lever-ad_spend_usd"))
            assert ad < 15000
            expected = evaluate_plan(
                load_spec(project / "business_spec.toml"),
                {"price_usd": 30.0, "ad_spend_usd": ad, "model": page.input_value("#lever-model")},
            ).objective
            page.wait_for_function(
                f"Math.abs(Number(document.getElementById('objective').dataset.value) - {expected})"
                " < 1e-9"
            )
            assert _objective(page) == pytest.approx(expected, rel=1e-12)
            assert _objective(page) < recommended
            page.screenshot(path=str(shots / "business-whatif.png"))
            page.close()
        finally:
            browser.close()
    assert errors == []
    assert outside == []


@contextmanager
def _chromium(chromium_path: str, tmp_path: Path, base: str) -> Iterator[tuple[Any, list, list]]:
    """A page in a fresh Chromium, with the console errors and the requests that left ``base``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        profile = tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium_path, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800},
        )  # fmt: skip
        try:
            page = browser.new_page()
            errors: list[str] = []
            outside: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url)
                ),
            )
            yield page, errors, outside
            page.close()
        finally:
            browser.close()


# every Plotly trace's y values: all numbers, none null, at least one per trace
TRACES_JS = """[...document.querySelectorAll('.js-plotly-plot')].map(gd => gd.data.map(
    t => (t.y || []).filter(v => typeof v === 'number' && isFinite(v)).length
    + '/' + (t.y || []).length))"""


def _n_current(page: Any, feature: str = "model_output") -> int:
    return int(page.get_attribute(f"#drift-{feature}", "data-n-current"))


def test_monitoring_and_filters_in_chromium(
    chromium_path: str, api_project: Path, project: Path, tmp_path: Path, serve_app, capsys
) -> None:
    from bizmodel.cli import run

    shots = Path(os.environ.get("BIZMODEL_WEBAPP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    capsys.readouterr()
    argv = ["monitor", "--project", str(api_project), "--since", "2026-03-24"]
    assert run([*argv, "--until", "2026-03-31", "--window", "1D", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    cli_psi = next(f["psi"] for f in cli["drift"]["features"] if f["name"] == "model_output")

    # the project fed through the HTTP API: drift charts and model KPI panels
    with (
        serve_app(create_app(Settings.load(api_project), refresh_s=60)) as base,
        _chromium(chromium_path, tmp_path, base) as (page, errors, outside),
    ):
        page.goto(base + "/monitoring?days=7")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 7")
        traces = [t for plot in page.evaluate(TRACES_JS) for t in plot]
        assert traces and all(t.split("/")[0] == t.split("/")[1] != "0" for t in traces), traces
        # bins are categories ("2" is a bin, not a position on a number line)
        assert (
            page.evaluate(
                "[...document.querySelectorAll('[id^=chart-drift-]')]"
                ".map(gd => gd._fullLayout.xaxis.type)"
            )
            == ["category"] * 3
        )
        psi = float(page.get_attribute("#drift-model_output .psi", "data-value"))
        assert psi == pytest.approx(cli_psi, rel=1e-12)  # the number monitor --json prints
        assert "fail: major drift" in page.inner_text("#drift-length_chars")
        assert _n_current(page) == 168
        page.screenshot(path=str(shots / "monitoring.png"))

        # the time filter: a custom range of 6 days, typed and applied without a mouse
        page.fill("input[name=from]", "2026-03-25")
        page.fill("input[name=to]", "2026-03-30")
        page.focus("#filters button")
        page.keyboard.press("Enter")
        page.wait_for_url("**from=2026-03-25**")
        assert _n_current(page) == 144
        # the arm filter: checkout's arm b only
        page.select_option("#segment", "checkout=b")
        page.click("#filters button")
        page.wait_for_url("**segment=checkout%3Db**")
        assert _n_current(page) == 72  # 6 days x 12 headlines to arm b's user
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 7")
        page.screenshot(path=str(shots / "monitoring-filtered.png"))
        # the links keep both filters
        page.click("nav >> text=Models")
        assert "from=2026-03-25" in page.url and "segment=checkout%3Db" in page.url
        assert page.get_attribute("#models [data-served]", "data-served") == "72"
    assert errors == []
    assert outside == []

    # the project without predictions: the filters move the Overview's numbers, and the
    # Monitoring page says there is nothing to draw instead of drawing nulls
    with (
        serve_app(create_app(Settings.load(project), refresh_s=60)) as base,
        _chromium(chromium_path, tmp_path, base) as (page, errors, outside),
    ):
        page.goto(base + "/?days=30")
        revenue = float(page.get_attribute("#kpi-revenue_usd .value", "data-value"))
        page.click("text=Last 7 days")
        page.wait_for_url("**days=7**")
        week = float(page.get_attribute("#kpi-revenue_usd .value", "data-value"))
        assert 0 < week < revenue
        page.select_option("#segment", "arm=a")
        page.click("#filters button")
        page.wait_for_url("**segment=arm%3Da**")
        arm_a = float(page.get_attribute("#kpi-revenue_usd .value", "data-value"))
        assert 0 < arm_a < week
        page.click("nav >> text=Monitoring")
        assert "segment=arm%3Da" in page.url and "days=7" in page.url
        assert "No prediction was served in this period" in page.inner_text("main")
        assert page.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 0
    assert errors == []
    assert outside == []


def test_monitoring_on_the_demo_market_in_chromium(
    chromium_path: str, demo_project: Path, tmp_path: Path, serve_app, capsys
) -> None:
    from bizmodel.cli import run

    capsys.readouterr()
    argv = ["monitor", "--project", str(demo_project), "--since", "2026-01-12"]
    assert run([*argv, "--until", "2026-01-19", "--window", "1D", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    cli_output = next(f for f in cli["drift"]["features"] if f["name"] == "model_output")
    with (
        serve_app(create_app(Settings.load(demo_project), refresh_s=60)) as base,
        _chromium(chromium_path, tmp_path, base) as (page, errors, outside),
    ):
        page.goto(base + "/monitoring?days=7")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 7")
        traces = [t for plot in page.evaluate(TRACES_JS) for t in plot]
        assert traces and all(t.split("/")[0] == t.split("/")[1] != "0" for t in traces), traces
        psi = float(page.get_attribute("#drift-model_output .psi", "data-value"))
        assert psi == pytest.approx(cli_output["psi"], rel=1e-12)
        assert _n_current(page) == cli_output["n_current"]
        # the headlines turn long from day 7: the input's length fails, in characters and tokens
        for feature in ("length_chars", "length_tokens"):
            assert "fail" in page.inner_text(f"#drift-{feature} h3")
        # a regression model: an error panel, no accuracy panel
        assert page.locator("#kpi-live_mae").count() == 1
        assert page.locator("#kpi-live_accuracy").count() == 0
        everyone = _n_current(page)
        page.select_option("#segment", "arm=B")
        page.click("#filters button")
        page.wait_for_url("**segment=arm%3DB**")
        arm_b = _n_current(page)
        assert 0 < arm_b < everyone
        page.fill("input[name=from]", "2026-01-15")
        page.fill("input[name=to]", "2026-01-18")
        page.click("#filters button")
        page.wait_for_url("**from=2026-01-15**")
        assert 0 < _n_current(page) < arm_b  # 4 days of arm B
        page.click("nav >> text=Overview")
        assert "from=2026-01-15" in page.url and "segment=arm%3DB" in page.url
        assert float(page.get_attribute("#kpi-active_users .value", "data-value")) > 0
    assert errors == []
    assert outside == []
