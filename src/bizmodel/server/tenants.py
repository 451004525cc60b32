"""Several projects (tenants) behind one server, each in its own database and registry.

A host project lists its tenants in ``bizmodel.toml``::

    [tenants]
    acme = "tenants/acme"        # a project folder (relative to the host's), with its own
    globex = "/srv/bizmodel/gx"  # bizmodel.toml: database_url, registry_dir, metrics, ...

and ``bizmodel serve`` answers each tenant's API under ``/t/NAME/`` (``/t/acme/v1/predict``,
``/t/acme/v1/events``, ...): a complete app of its own (:func:`bizmodel.server.create_app`)
on the tenant's store, registry and keys. Isolation is by construction, not by a filter a
query could forget (OWASP API1, broken object-level authorisation): a tenant's app opens only
its own database, so no request under ``/t/acme/`` can read or write another tenant's events,
experiments, predictions, keys or models; a key made by ``POST /t/acme/v1/keys`` lives in
acme's store and is unknown (403) everywhere else. Every tenant route needs a key, reads
included. Two tenants (or a tenant and the host) sharing one database or registry is a
configuration error.

What tenants share: the server process, its port and ``[server]`` limits from the
environment (``BIZMODEL_SERVER_*``), and the host's bootstrap keys (``BIZMODEL_API_KEYS``):
the operator's keys, valid for every tenant (to create each tenant's own keys), besides the
tenant's own ``api_keys``. A tenant's own ``[server]`` table sets its rate limits and quotas;
a tenant has no dashboard of its own (``[server] dashboard`` is the host's). The host's
``[server] max_loaded_models`` caps the model versions loaded in the process, all tenants'
together: the least recently used is unloaded first
(:class:`bizmodel.server.model_pool.LoadedModels`).

Examples
--------
>>> tenant_path("/t/acme/v1/events")
('acme', '/v1/events')
>>> tenant_path("/v1/events")
(None, '/v1/events')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from bizmodel.errors import ConfigError

if TYPE_CHECKING:
    from bizmodel.config import Settings

#: Where a tenant's API answers: ``/t/NAME``.
PREFIX = "/t"
TENANT_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_PATH = re.compile(r"^/t/([a-z0-9][a-z0-9_-]{0,31})(/.*)$")


def tenant_path(path: str) -> tuple[str | None, str]:
    """``(tenant, path within the tenant's app)`` of a request path; ``(None, path)`` for the
    host's own routes."""
    match = _PATH.match(path)
    if match is None:
        return None, path
    return match.group(1), match.group(2)


def tenant_settings(host: Settings) -> dict[str, Settings]:
    """Each tenant's settings: its folder's ``bizmodel.toml``, the server options of the
    environment, the host's bootstrap keys, and keys required on every route.

    Raises
    ------
    ConfigError
        When a tenant's folder does not exist, or two of the host and its tenants share a
        database or a registry.
    """
    import os

    from bizmodel.config import CONFIG_FILE, ENV_PREFIX, Settings

    where = str(host.project_dir / CONFIG_FILE)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX + "SERVER_")}
    out: dict[str, Settings] = {}
    for name, folder in host.tenants.items():
        pdir = folder if folder.is_absolute() else host.project_dir / folder
        if not pdir.is_dir():
            raise ConfigError(
                f"tenants.{name}: folder {str(pdir)!r} does not exist; valid: a project folder "
                f"(bizmodel init {pdir})",
                file=where,
            )
        settings = Settings.load(pdir, env=env)
        server = settings.server.model_copy(update={"read_requires_key": True, "dashboard": False})
        keys = tuple(dict.fromkeys((*host.api_keys, *settings.api_keys)))  # operator's first
        out[name] = settings.model_copy(update={"api_keys": keys, "server": server, "tenants": {}})
    _check_apart(host, out, where)
    return out


def _check_apart(host: Settings, tenants: dict[str, Settings], where: str) -> None:
    seen: dict[str, str] = {}
    for who, s in [("the host", host), *((f"tenant {n!r}", s) for n, s in tenants.items())]:
        for what, value in (
            ("database", s.resolved_database_url()),
            ("registry", str(Path(s.resolved_registry_dir()).resolve())),
        ):
            key = f"{what}:{value}"
            if key in seen:
                raise ConfigError(
                    f"{who} and {seen[key]} share one {what} ({value}); valid: every tenant in "
                    f"its own database and registry (set database_url / registry_dir in its "
                    "bizmodel.toml)",
                    file=where,
                )
            seen[key] = who


__all__ = ["PREFIX", "TENANT_NAME", "tenant_path", "tenant_settings"]
