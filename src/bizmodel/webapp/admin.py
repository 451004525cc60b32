"""Changes made from the web app: promoting a model version, with an admin key.

The key is checked as the HTTP API checks it (:class:`bizmodel.server.security.KeyRing`: a
bootstrap key from ``BIZMODEL_API_KEYS`` or a stored key with role ``admin``), and the change
is written to the store's audit log like ``POST /v1/models/{name}/promote``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bizmodel.config import Settings

__all__ = ["promote_version"]


async def promote_version(
    settings: Settings, key: str | None, name: str, version: int, stage: str
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
    from bizmodel.store import EventStore
    from bizmodel.store.keys import KeyStore

    store = EventStore.open(settings.resolved_database_url())
    try:
        keys = KeyStore(store)
        principal = await KeyRing(settings.api_keys, keys, cache_s=0).authenticate(key)
        KeyRing.authorize(principal, "admin")
        registry = Registry(settings.resolved_registry_dir())
        mv = await asyncio.to_thread(registry.promote, name, version, stage)
        detail = {"version": version, "stage": stage, "via": "webapp"}
        await asyncio.to_thread(keys.audit, principal.id, "model.promote", name, detail)
        return mv
    finally:
        store.close()
