from fastapi.testclient import TestClient

from bizmodel.errors import DataError
from bizmodel.report.dashboard import create_dashboard_app
from bizmodel.report.sections import model_versions_section


def test_routes_serve_page_data_and_plotly(demo_data) -> None:
    calls = []

    def provider():
        calls.append(1)
        return demo_data

    client = TestClient(create_dashboard_app(provider, title="Live", refresh_s=2))
    page = client.get("/")
    assert page.status_code == 200 and "<title>Live</title>" in page.text
    assert 'src="static/plotly.min.js"' in page.text and "REFRESH_MS = 2000" in page.text
    data = client.get("/api/sections").json()
    assert [s["key"] for s in data["sections"]][:3] == ["alerts", "signups_by_arm", "kpis"]
    assert len(calls) == 1  # the provider is called per data request
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 1_000_000


def test_provider_may_return_sections_and_errors_become_json() -> None:
    section = model_versions_section([{"version": "v1", "quality": 0.7, "cost_usd_per_1k": 1.0}])
    ok = TestClient(create_dashboard_app(lambda: [section])).get("/api/sections")
    assert ok.json()["sections"][0]["title"] == "Model versions"

    def broken():
        raise DataError("store: table 'events' is empty")

    bad = TestClient(create_dashboard_app(broken)).get("/api/sections")
    assert bad.status_code == 422
    assert bad.json() == {"error": "data_error", "detail": "store: table 'events' is empty"}
