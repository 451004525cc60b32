"""The FastAPI application: ``create_app(settings)``.

Routes are thin (see :mod:`bizmodel.server.routes`); state lives on ``app.state``: the event
store, the registry, the model pool and the metrics. Errors: :mod:`bizmodel.server.errors`
turns every error into ``{"error", "detail"}`` with nothing of the server's internals in it;
bodies over ``server.max_body_bytes`` get 413. With ``server.dashboard`` the web app
(:func:`bizmodel.webapp.create_app`) answers under ``/app/``; each of the project's
``[tenants]`` gets its own app under ``/t/NAME/`` (:mod:`bizmodel.server.tenants`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bizmodel.config import Settings
from bizmodel.errors import BizmodelError

DASHBOARD_PATH = "/app"  # where `server.dashboard = true` mounts the web app


class ExperimentCache:
    """Running model-version experiments per model name, re-read at most every ``ttl_s``."""

    def __init__(self, store: Any, ttl_s: float = 2.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._at = -1e9
        self._by_model: dict[str, dict[str, Any]] = {}

    def invalidate(self) -> None:
        self._at = -1e9

    def for_model(self, name: str) -> dict[str, Any] | None:
        now = time.monotonic()
        if now - self._at > self.ttl_s:
            by_model: dict[str, dict[str, Any]] = {}
            for exp in self.store.list_experiments():  # sorted by name: first one wins
                if exp["status"] == "running" and exp["model_name"]:
                    by_model.setdefault(exp["model_name"], exp)
            self._by_model, self._at = by_model, now
        return self._by_model.get(name)


def create_app(
    settings: Settings | None = None,
    *,
    store: Any = None,
    model_loader: Callable[[Any], Any] | None = None,
    loaded_models: Any = None,
) -> Any:
    """Build the HTTP app for ``settings`` (default: :meth:`Settings.load`).

    Parameters
    ----------
    settings : Settings, optional
        Database URL, registry folder, API keys and server options.
    store : EventStore, optional
        An open store to use instead of opening ``settings.resolved_database_url()``.
    model_loader : callable, optional
        ``loader(model_dir) -> FineTunedModel``; default ``bizmodel.finetune.load_model``.
    loaded_models : LoadedModels, optional
        The process's count of loaded models, shared with the host's app (for a tenant's app);
        default: a new one of ``[server] max_loaded_models``.
    """
    from fastapi import FastAPI

    from bizmodel.registry import Registry
    from bizmodel.server.admin import router as admin_router
    from bizmodel.server.errors import install as install_error_handlers
    from bizmodel.server.errors import log, public_detail
    from bizmodel.server.metrics import Metrics
    from bizmodel.server.middleware import LimitAndMeasure
    from bizmodel.server.model_pool import LoadedModels, ModelPool
    from bizmodel.server.routes import router
    from bizmodel.server.security import (
        DailyQuotas,
        KeyRing,
        SharedTokenBuckets,
        TokenBuckets,
        rate_limit_scope,
    )
    from bizmodel.store import EventStore
    from bizmodel.store.keys import KeyStore

    settings = settings or Settings.load()
    metrics = Metrics.create()
    loaded = loaded_models
    if loaded is None:  # not `or`: an empty LoadedModels is falsy
        loaded = LoadedModels(settings.server.max_loaded_models)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        db = store or EventStore.open(settings.resolved_database_url())
        registry = Registry(settings.resolved_registry_dir())
        pool = ModelPool(registry, db, settings, metrics, model_loader, loaded)
        pool.default_name = pool.pick_default_name()
        app.state.store, app.state.registry, app.state.pool = db, registry, pool
        app.state.keys = KeyStore(db)
        app.state.keyring = KeyRing(
            settings.api_keys, app.state.keys, cache_s=settings.server.key_cache_s
        )
        app.state.experiments = ExperimentCache(db)
        app.state.quotas = quotas = DailyQuotas(db)  # per key and UTC day, in the store
        if rate_limit_scope(settings) == "store":  # counted across the replicas of one store
            # one set of buckets for both limits: the explain limit's keys are "explain:<id>"
            app.state.buckets = app.state.explain_limiter = SharedTokenBuckets(db)
        app.state.load_error = None
        if pool.default_name is not None:
            try:
                await pool.get(pool.default_name)
            except BizmodelError as exc:  # serve events anyway; /ready says why not ready
                log.warning("the default model is not loaded: %s", exc)
                app.state.load_error = public_detail(exc)
        try:
            async with contextlib.AsyncExitStack() as tenants:
                # a mounted app gets no lifespan of its own: its host runs it
                for sub in app.state.tenants.values():
                    await tenants.enter_async_context(sub.router.lifespan_context(sub))
                yield
        finally:  # close what this lifespan opened (app.state may point elsewhere by now)
            await pool.close()
            try:  # the calls this replica leased and did not make count for the key again
                await asyncio.to_thread(quotas.release)
            except BizmodelError as exc:  # the store is gone: the lease stays counted
                log.warning("unspent quota leases not given back: %s", exc)
            if own_store:
                db.close()

    app = FastAPI(
        title="bizmodel",
        version="0.1.0",
        summary="Predictions, feedback, business events and A/B assignment for a bizmodel model.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.explain_limiter = TokenBuckets()  # POST /v1/explain (server.explain_per_minute)
    app.state.buckets = TokenBuckets()  # per-key rate limits (server.rate_per_minute)

    install_error_handlers(app)

    app.include_router(router)
    app.include_router(admin_router)
    if settings.project.template:  # a template project adds its own endpoints (/v1/advice, ...)
        from bizmodel.templates import get_template

        extra = get_template(settings.project.template).api_router(settings)
        if extra is not None:
            app.include_router(extra)
    app.state.tenants = {}
    if settings.tenants:  # each tenant's own app, store and registry under /t/NAME/
        from bizmodel.server.tenants import PREFIX, tenant_settings

        for name, tenant in tenant_settings(settings).items():
            sub = create_app(tenant, model_loader=model_loader, loaded_models=loaded)
            app.state.tenants[name] = sub
            app.mount(f"{PREFIX}/{name}", sub)
    if settings.server.dashboard:  # the web app on the same store, registry and key rules
        from bizmodel.webapp import create_app as create_webapp

        app.mount(DASHBOARD_PATH, create_webapp(settings))
    app.add_middleware(
        LimitAndMeasure, max_body_bytes=settings.server.max_body_bytes, metrics=metrics
    )
    return app
