"""The web app's FastAPI application: settings, templates, static files and one error handler.

:func:`create_app` builds it for one project; :mod:`bizmodel.webapp.routes` holds the pages.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.errors import BizmodelError
from bizmodel.report.formatting import (
    format_count,
    format_currency,
    format_number,
    format_p_value,
    format_percent,
    format_value,
    kpi_label,
    kpi_unit,
)

__all__ = ["AppStore", "create_app", "templates"]


class AppStore:
    """The app's one event store: opened by the first request that reads it, then shared by
    every request (one engine and its connection pool, not a store opened and migrated per
    page), closed when the app shuts down or is collected.

    Examples
    --------
    >>> import tempfile
    >>> shared = AppStore(Settings.load(tempfile.mkdtemp()))
    >>> shared.get() is shared.get()
    True
    >>> shared.close()
    """

    def __init__(self, settings: Settings) -> None:
        import threading

        self._settings = settings
        self._store: Any = None
        self._lock = threading.Lock()  # two first requests at once open it once

    def get(self) -> Any:
        """The open :class:`~bizmodel.store.EventStore` (opened now if it is not)."""
        with self._lock:
            if self._store is None:
                from bizmodel.store import EventStore

                self._store = EventStore.open(self._settings.resolved_database_url())
            return self._store

    def close(self) -> None:
        """Close the store if it is open; the next :meth:`get` opens it again."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def templates() -> Any:
    """The Jinja environment of the pages, with the shared number formats as filters."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bizmodel.webapp", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        currency=format_currency,
        percent=format_percent,
        p_value=format_p_value,
        count=format_count,
        number=format_number,
        value=format_value,
        kpi=kpi_label,
        kpi_unit=kpi_unit,
    )
    return env


def create_app(
    settings: Settings,
    *,
    spec: str | Path | None = None,
    refresh_s: float = 10.0,
    embed: Callable[[Sequence[str]], Any] | None = None,
) -> Any:
    """A FastAPI app serving the project's pages, read live from its store and registry.

    Parameters
    ----------
    settings : Settings
        The project (its store, registry and ``bizmodel.toml`` metrics).
    spec : path, optional
        Business-model spec for the Business page; default ``business_spec.toml`` (or
        ``.json``) in the project folder.
    refresh_s : float
        Polling interval of the one-page live report mounted at ``/live/``.
    embed : callable, optional
        ``embed(texts) -> (n, d) array`` (e.g. the served model's sentence embeddings): the
        Monitoring page adds the embedding's drift.

    Examples
    --------
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(Settings.load(tempfile.mkdtemp()))
    >>> TestClient(app).get("/experiments").status_code
    200
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    from bizmodel.report.dashboard import create_dashboard_app
    from bizmodel.report.project import project_report_data
    from bizmodel.webapp.routes import router
    from bizmodel.webapp.whatif import find_spec

    shared = AppStore(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            shared.close()

    app = FastAPI(title="bizmodel", docs_url=None, redoc_url=None, lifespan=lifespan)
    # mounted under `bizmodel serve`, the app gets no lifespan: close the store when it goes
    weakref.finalize(app, shared.close)
    app.state.settings = settings
    app.state.store = shared
    app.state.spec_path = find_spec(settings, Path(spec) if spec else None)
    app.state.plan = None  # BusinessPlan, loaded on first use
    app.state.templates = templates()
    app.state.embed = embed

    @app.exception_handler(BizmodelError)
    def bizmodel_error(request: Request, exc: BizmodelError) -> Any:
        # the one place an error becomes an answer: JSON for the API, a page for people
        root = request.scope.get("root_path", "").rstrip("/")
        if request.url.path[len(root) :].startswith("/api/"):
            body = {"error": exc.kind, "detail": exc.public or str(exc)}
            return JSONResponse(body, status_code=exc.http_status)
        page = app.state.templates.get_template("error.html").render(
            title="Error", active="", message=str(exc), filters=None, root=root,
            status=exc.http_status, reset=request.url.path,
        )  # fmt: skip
        return HTMLResponse(page, status_code=exc.http_status)

    @app.middleware("http")
    async def read_key(request: Request, call_next: Any) -> Any:
        # reads need a read key when server.read_requires_key, as GET /v1/... do; the login
        # form, the static script and the promote form (it checks its admin key) stay open
        root = request.scope.get("root_path", "").rstrip("/")
        path = request.url.path[len(root) :]
        if settings.server.read_requires_key and not (
            path in ("/login", "/models/promote") or path.startswith("/static/")
        ):
            from bizmodel.webapp.admin import check_read, provided_key

            try:
                key = provided_key(request.headers, request.cookies)
                await check_read(settings, key, shared.get())
            except BizmodelError as exc:
                return bizmodel_error(request, exc)
        return await call_next(request)

    plotly_js = resources.files("plotly") / "package_data" / "plotly.min.js"

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_min_js() -> FileResponse:
        return FileResponse(str(plotly_js), media_type="text/javascript")

    app.include_router(router)
    app.mount(
        "/live",
        create_dashboard_app(
            lambda: project_report_data(settings, store=shared.get()),
            title="bizmodel report",
            refresh_s=refresh_s,
        ),
    )
    return app
