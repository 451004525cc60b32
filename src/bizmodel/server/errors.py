"""The one place where the HTTP app turns an error into an answer: ``{"error", "detail"}``.

What a client reads reveals nothing of the server: no filesystem path, SQL, stack trace or
library message. A :class:`~bizmodel.errors.BizmodelError` answers its ``public`` text (its
message without the file when it has none); a 5xx answers a fixed text per kind; a validation
error names only fields the client sent (or must send); anything else is a 500 with a fixed
text. The full message and traceback go to the server log (logger ``bizmodel.server``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import BizmodelError

log = logging.getLogger("bizmodel.server")

_SERVER_SIDE = {  # 5xx: the cause is the server's; the client learns only what to do
    "store_error": "the event store is not available; retry later",
    "serving_error": "the model cannot be served right now; retry later",
    "notification_error": "a notification could not be delivered",
}
_SOURCES = ("body", "query", "path", "header", "cookie")
_MISSING = object()


def public_detail(exc: BizmodelError) -> str:
    """The text a client may read for ``exc``.

    Examples
    --------
    >>> from bizmodel.errors import DataError, StoreError
    >>> public_detail(DataError("row 2: bad", file="/srv/data.csv"))
    'row 2: bad'
    >>> public_detail(StoreError("cannot connect to 10.0.0.5:5432"))
    'the event store is not available; retry later'
    """
    if exc.public is not None:
        return exc.public
    if exc.http_status >= 500:
        return _SERVER_SIDE.get(exc.kind, "the server cannot answer this now; retry later")
    return exc.message


def _walk(value: Any, part: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(part, str):
        return value.get(part, _MISSING)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and isinstance(part, int):
        return value[part] if -len(value) <= part < len(value) else _MISSING
    return _MISSING


def _field(err: Mapping[str, Any], body: Any) -> str:
    """The dotted field an error is about, limited to what the client sent (or must send).

    Pydantic adds its own steps to a location (union members such as ``float``, validator
    names); they are cut where the client's own body has no such key.
    """
    loc = list(err.get("loc", ()))
    if not loc:
        return ""
    source, parts = loc[0], loc[1:]
    if source not in _SOURCES:
        return ""
    if source != "body":  # a query/path/header parameter: its declared name
        return ".".join(str(p) for p in parts[:1])
    kept: list[str] = []
    value = body
    for i, part in enumerate(parts):
        nxt = _walk(value, part)
        if nxt is _MISSING:
            last = i == len(parts) - 1
            if last and err.get("type") == "missing" and isinstance(value, Mapping):
                kept.append(str(part))  # a required field the client left out
            break
        kept.append(str(part))
        value = nxt
    return ".".join(kept)


def validation_message(errors: Sequence[Mapping[str, Any]], body: Any = None) -> str:
    """One line for a request that failed validation: ``field: what is wrong; ...``.

    Examples
    --------
    >>> validation_message([{"loc": ("body", 34), "type": "json_invalid", "msg": "JSON"}])
    'malformed JSON: the request body is not valid JSON'
    >>> validation_message(
    ...     [{"loc": ("body", "rating", "float"), "type": "float_parsing", "msg": "not a number"}],
    ...     {"rating": "x"},
    ... )
    'rating: not a number'
    """
    if any(e.get("type") == "json_invalid" for e in errors):
        return "malformed JSON: the request body is not valid JSON"
    parts = []
    for err in errors[:5]:
        field = _field(err, body)
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{field}: {msg}" if field else msg)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(dict.fromkeys(parts)) + more


def install(app: Any) -> None:
    """Register the app's error handlers: every answer has the same one-line JSON shape."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def answer(status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> Any:
        return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(BizmodelError)
    async def _bizmodel_error(request: Request, exc: BizmodelError) -> JSONResponse:
        detail = public_detail(exc)
        if exc.http_status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.http_status, exc)
        elif detail != str(exc):
            log.info("%s %s -> %d: %s", request.method, request.url.path, exc.http_status, exc)
        headers = None
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            headers = {"Retry-After": str(int(retry_after))}
        return answer(exc.http_status, exc.kind, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(422, "validation_error", validation_message(list(exc.errors()), exc.body))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {
            400: ("bad_request", "the request could not be read"),
            404: ("not_found", "no such endpoint"),
            405: ("method_not_allowed", "this endpoint does not accept that method"),
            413: ("payload_too_large", str(exc.detail)),
        }
        kind, detail = kinds.get(exc.status_code, ("http_error", "the request was refused"))
        return answer(exc.status_code, kind, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s -> 500", request.method, request.url.path)
        return answer(500, "internal_error", "internal error; the server log has the details")
