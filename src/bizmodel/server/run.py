"""Run the app with uvicorn (``bizmodel serve``), in one process or ``replicas`` workers.

With more than one replica, uvicorn's supervisor binds the port once and forks ``replicas``
worker processes that share it (the kernel spreads connections over them); each worker builds
its app with :func:`app_from_env` from the settings the parent passed in the environment, and
opens its own connection pool to the same database, so all replicas write to one event store.
Use PostgreSQL for that (SQLite serialises writers behind one file lock). The parent migrates
the database once before forking, so workers never race on the schema. Prometheus metrics
(``/metrics``) are per worker process.
"""

from __future__ import annotations

import os
from typing import Any

from bizmodel.config import Settings

#: Environment variable carrying the settings (JSON) from ``serve`` to its worker processes.
SETTINGS_ENV = "_BIZMODEL_SERVE_SETTINGS"


def app_from_env() -> Any:
    """The app of one replica: ``create_app`` of the settings in :data:`SETTINGS_ENV`.

    uvicorn calls this factory in each worker process (``bizmodel.server.run:app_from_env``).
    """
    from bizmodel.server.app import create_app

    raw = os.environ.get(SETTINGS_ENV)
    return create_app(Settings.model_validate_json(raw) if raw else Settings.load())


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    replicas: int | None = None,
) -> None:
    """Serve ``create_app(settings)`` on ``host:port`` until interrupted.

    Parameters
    ----------
    settings : Settings
        Database, registry, keys and server options.
    host, port : optional
        Override ``settings.server.host`` / ``port``.
    replicas : int, optional
        Worker processes behind the port (default ``settings.server.replicas``).
    """
    import uvicorn

    from bizmodel.server.app import create_app

    replicas = replicas or settings.server.replicas
    common: dict[str, Any] = {
        "host": host or settings.server.host,
        "port": port or settings.server.port,
        "access_log": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": 5,
    }
    if replicas <= 1:
        uvicorn.run(create_app(settings), **common)
        return
    from bizmodel.store import EventStore

    EventStore.open(settings.resolved_database_url()).close()  # migrate once, before forking
    # the workers know they are several (per-key rate limits then count in the store)
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"replicas": replicas})}
    )
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("bizmodel.server.run:app_from_env", factory=True, workers=replicas, **common)
