"""Run the app with uvicorn (``bizmodel serve``)."""

from __future__ import annotations

from bizmodel.config import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve ``create_app(settings)`` on ``host:port`` until interrupted."""
    import uvicorn

    from bizmodel.server.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.server.host,
        port=port or settings.server.port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
