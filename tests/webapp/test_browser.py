"""The web app in a real Chromium: every page loads with no console error and no request
leaving the machine, charts have data, and the what-if levers (mouse-free) move the objective
to what evaluate_plan says.

Set BIZMODEL_WEBAPP_SCREENSHOTS=DIR to keep a PNG of each page there (docs/webapp/).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
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
    "live": "/live/",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # generous: a busy machine starts slowly
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _objective(page: Any) -> float:
    return float(page.get_attribute("#objective", "data-value"))


def test_every_page_in_chromium(chromium_path: str, project: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ.get("BIZMODEL_WEBAPP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with (
        _serve(create_app(Settings.load(project), refresh_s=60)) as base,
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
