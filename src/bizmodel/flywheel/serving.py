"""Run the real HTTP server in-process (uvicorn on 127.0.0.1, a free port) for the flywheel;
the simulated users call it through :class:`bizmodel.client.Client`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bizmodel.client import Client
from bizmodel.config import Settings
from bizmodel.errors import StoreError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(settings: Settings, *, timeout_s: float = 120.0) -> Iterator[str]:
    """Serve ``create_app(settings)`` in a background thread; yield its base URL.

    The server is asked to exit when the block ends and the thread is joined.
    """
    import uvicorn

    from bizmodel.server.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bizmodel-flywheel-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise StoreError("the flywheel's server did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def post_events(client: Client, events: Any, *, batch_size: int = 1000) -> int:
    """Send simulated events (``user_id, type, value, ts, arm, event_id`` rows of a
    DataFrame) through ``client`` in batches, with the arm in ``properties``; return how many
    were sent."""
    rows = (
        {
            "user_id": str(row.user_id),
            "type": row.type,
            "value": row.value,
            "ts": row.ts,
            "properties": {"arm": row.arm},
            "client_event_id": str(row.event_id),
        }
        for row in events.itertuples(index=False)
    )
    return client.send_events(rows, batch_size=batch_size).received
