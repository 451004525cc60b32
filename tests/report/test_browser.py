"""The report and the dashboard in a real browser: every chart drawn with data, no errors."""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bizmodel.report import build_report
from bizmodel.report.dashboard import create_dashboard_app
from bizmodel.report.sections import SECTION_KEYS

# alerts are a table; "custom" sections carry their own keys (the demo has one)
CHARTED = [k if k != "custom" else "signups_by_arm" for k in SECTION_KEYS if k != "alerts"]

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

# For every Plotly graph on the page: its id, and per trace the lengths of x and y.
CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    id: gd.id,
    traces: (gd.data || []).map(t => ({x: t.x ? t.x.length : 0, y: t.y ? t.y.length : 0})),
    drawn: gd.querySelectorAll('.main-svg').length,
}))"""


@pytest.fixture()
def browser_page(chromium_path: str, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        # a fresh profile per test (Playwright wants it as user_data_dir, not as an argument)
        profile = tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()


def _assert_all_charts_have_data(page: Any) -> None:
    charts = page.evaluate(CHARTS_JS)
    ids = {c["id"] for c in charts}
    assert {f"chart-{k}-0" for k in CHARTED} <= ids, ids
    for c in charts:
        assert c["drawn"] > 0, c
        assert c["traces"] and all(t["x"] > 0 and t["y"] > 0 for t in c["traces"]), c


def test_report_renders_every_chart(browser_page, demo_data, tmp_path: Path) -> None:
    page, errors = browser_page
    out = build_report(demo_data, title="bizmodel demo report", output=tmp_path / "report.html")
    assert out
    page.goto((tmp_path / "report.html").as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {len(CHARTED)}")
    _assert_all_charts_have_data(page)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []


def test_dashboard_renders_and_refreshes(
    browser_page, demo_data, tmp_path: Path, serve_app
) -> None:
    page, errors = browser_page
    calls: list[int] = []

    def provider() -> dict[str, Any]:
        calls.append(1)
        return demo_data

    app = create_dashboard_app(provider, title="bizmodel live", refresh_s=0.5)
    with serve_app(app) as base:
        page.goto(base + "/")
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot').length >= {len(CHARTED)}"
        )
        _assert_all_charts_have_data(page)
        page.wait_for_function(
            "document.getElementById('status').textContent.startsWith('Updated')"
        )
        deadline = time.monotonic() + 60
        while len(calls) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert len(calls) >= 2  # the page polls the JSON endpoint
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.close()  # stop polling before the server goes away
        assert errors == []
