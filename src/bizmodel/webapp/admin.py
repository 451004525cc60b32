"""Who may use the web app: reading with a ``read`` key when ``server.read_requires_key``,
promoting a model version with an ``admin`` key.

Keys are checked as the HTTP API checks them (:class:`bizmodel.server.security.KeyRing`: a
bootstrap key from ``BIZMODEL_API_KEYS`` or a stored key with the role), and a promotion is
written to the store's audit log like ``POST /v1/models/{name}/promote``. A browser sends its
read key in the ``bizmodel_key`` cookie that the ``/login`` form sets; other clients in the
``X-API-Key`` header or as ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bizmodel.config import Settings

__all__ = ["KEY_COOKIE", "check_read", "promote_version", "provided_key"]

KEY_COOKIE = "bizmodel_key"  # set by the /login form when reads need a key


def provided_key(headers: Any, cookies: Any) -> str | None:
    """The key a request carries: ``X-API-Key``, ``Authorization: Bearer``, or the cookie."""
    if headers.get("x-api-key"):
        return str(headers["x-api-key"])
    auth = str(headers.get("authorization", ""))
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = cookies.get(KEY_COOKIE)
    return str(cookie) if cookie else None


async def check_read(settings: Settings, key: str | None, store: Any = None) -> None:
    """Pass when reads are open, or ``key`` has role ``read``; else AuthError (401) or
    PermissionDeniedError (403), as ``GET /v1/...`` answers. The keys are read from ``store``
    (:func:`~bizmodel.webapp.pages.store_of`)."""
    if not settings.server.read_requires_key:
        return
    from bizmodel.server.security import KeyRing
    from bizmodel.store.keys import KeyStore
    from bizmodel.webapp.pages import store_of

    with store_of(settings, store) as db:
        principal = await KeyRing(settings.api_keys, KeyStore(db), cache_s=0).authenticate(key)
        KeyRing.authorize(principal, "read")


async def promote_version(
    settings: Settings, key: str | None, name: str, version: int, stage: str, store: Any = None
) -> Any:
    """Point ``stage`` of ``name`` at ``version`` if ``key`` has role ``admin``.

    Raises
    ------
    AuthError
        No key given (401).
    PermissionDeniedError
        The key is not valid, or lacks role ``admin`` (403).
    """
    from bizmodel.registry import Registry
    from bizmodel.server.security import KeyRing
    from bizmodel.store.keys import KeyStore
    from bizmodel.webapp.pages import store_of

    with store_of(settings, store) as db:
        keys = KeyStore(db)
        principal = await KeyRing(settings.api_keys, keys, cache_s=0).authenticate(key)
        KeyRing.authorize(principal, "admin")
        registry = Registry(settings.resolved_registry_dir())
        mv = await asyncio.to_thread(registry.promote, name, version, stage)
        detail = {"version": version, "stage": stage, "via": "webapp"}
        await asyncio.to_thread(keys.audit, principal.id, "model.promote", name, detail)
        return mv
