"""Pure ASGI middleware: request body size limit (413) and Prometheus request metrics."""

from __future__ import annotations

import json
import time
from typing import Any

Scope = dict[str, Any]


def _too_large(limit: int) -> Exception:
    # An HTTPException, so FastAPI's body reader passes it on to the JSON error handler
    # instead of turning it into "error parsing the body" (400).
    from starlette.exceptions import HTTPException

    return HTTPException(413, f"request body exceeds the limit of {limit} bytes")


async def _send_json(send: Any, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class LimitAndMeasure:
    """Refuse bodies over ``max_body_bytes`` with 413 (by Content-Length, or while streaming)
    and count every request by method, route template and status."""

    def __init__(self, app: Any, *, max_body_bytes: int, metrics: Any) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        limit = self.max_body_bytes
        too_large = {
            "error": "payload_too_large",
            "detail": f"request body exceeds the limit of {limit} bytes",
        }
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _send_json(send, 413, too_large)
                    self._observe(scope, 413, t0)
                    return
        status = {"code": 500, "started": False}
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 413:
                raise
            if not status["started"]:
                await _send_json(send, 413, too_large)
            status["code"] = 413
        self._observe(scope, int(status["code"]), t0)

    def _observe(self, scope: Scope, code: int, t0: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(scope.get("method", ""), path, str(code)).inc()
        self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
