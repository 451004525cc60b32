"""The live dashboard: the report's views in a page that polls a JSON endpoint and redraws.

``create_dashboard_app(data_provider)`` returns a FastAPI app with three routes:

* ``GET /`` — the page (HTML; Plotly from this server, no CDN);
* ``GET /api/sections`` — ``{"generated_at": ISO time, "sections": [Section.to_dict()]}``,
  built by calling ``data_provider()`` on every request;
* ``GET /static/plotly.min.js`` — plotly.js from the installed ``plotly`` package.

``data_provider`` takes no arguments and returns either a list of
:class:`~bizmodel.report.sections.Section` or a dict of section inputs (see
:func:`~bizmodel.report.sections.sections_from_data`), so it can read the event store later.

Examples
--------
>>> from fastapi.testclient import TestClient
>>> app = create_dashboard_app(lambda: {"model_versions": [
...     {"version": "v1", "quality": 0.7, "cost_usd_per_1k": 0.5}]})
>>> TestClient(app).get("/api/sections").json()["sections"][0]["key"]
'model_versions'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from bizmodel.errors import BizmodelError
from bizmodel.report.sections import Section, sections_from_data

DataProvider = Callable[[], Sequence[Section] | Mapping[str, Any]]


def _row_text(row: Mapping[str, Any]) -> dict[str, str]:
    """A table row as the HTML report writes it (``formatting.format_cell``)."""
    from bizmodel.report.formatting import format_cell

    return {str(k): format_cell(v) for k, v in row.items()}


def _plotly_js_path() -> Any:
    return resources.files("plotly") / "package_data" / "plotly.min.js"


def create_dashboard_app(
    data_provider: DataProvider,
    *,
    title: str = "bizmodel dashboard",
    refresh_s: float = 10.0,
) -> Any:
    """A FastAPI app serving the dashboard page and its JSON data.

    Parameters
    ----------
    data_provider : callable
        Called on every ``/api/sections`` request; returns sections or their inputs.
    title : str
        Page title.
    refresh_s : float
        How often the page polls for new data, in seconds.
    """
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    from bizmodel.report.html import _environment, json_safe

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    page = (
        _environment()
        .get_template("dashboard.html")
        .render(
            title=title,
            refresh_s=refresh_s,
            data_url="api/sections",
            plotly_url="static/plotly.min.js",
        )
    )
    plotly_js = _plotly_js_path()

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/sections")
    def sections() -> JSONResponse:
        try:
            data = data_provider()
            items = sections_from_data(data) if isinstance(data, Mapping) else list(data)
        except BizmodelError as exc:
            return JSONResponse(
                {"error": exc.kind, "detail": str(exc)}, status_code=exc.http_status
            )
        payload = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "sections": [
                {**s.to_dict(), "table_text": [_row_text(r) for r in s.table]} for s in items
            ],
        }
        return JSONResponse(json_safe(payload))

    @app.get("/static/plotly.min.js")
    def plotly_min_js() -> FileResponse:
        return FileResponse(str(plotly_js), media_type="text/javascript")

    return app
