"""API keys with roles, kept as hashes, and the audit log of admin actions.

A key reads ``bzk_<id>_<secret>``: 12 hex characters of id (public, used to find the row)
and 43 URL-safe characters of secret (256 random bits). The store keeps only the key's
SHA-256 (a key this random needs no slow hash: there is nothing to guess from); the key is
shown once, when it is created. Roles:

========  ============================================================================
predict   ``POST /v1/predict``, ``POST /v1/explain`` (and a template's prediction routes)
ingest    ``POST /v1/events``, ``POST /v1/feedback``, ``GET /v1/assign``
read      ``GET /v1/experiments[/NAME]``, ``GET /metrics``
admin     experiment writes, ``POST /v1/models/NAME/promote``, ``/v1/keys``, ``/v1/audit``
========  ============================================================================

Examples
--------
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> keys = KeyStore(store)
>>> new = keys.create(["predict"], name="ios-app", actor="cli")
>>> new.key.startswith(f"bzk_{new.info.id}_")
True
>>> keys.verify(new.key).roles
('predict',)
>>> keys.verify(new.key.replace("bzk_", "bzk_x")) is None
True
>>> _ = keys.revoke(new.info.id, actor="cli")
>>> keys.verify(new.key) is None
True
>>> [e["action"] for e in keys.audit_log()]
['key.revoke', 'key.create']
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bizmodel.errors import DataError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from bizmodel.store.db import EventStore

ROLES = ("predict", "ingest", "read", "admin")
KEY_PATTERN = re.compile(r"^bzk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def key_sha256(key: str) -> str:
    """SHA-256 hex digest of a whole key, the only form in which the store keeps it."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Roles from names (each may be comma-separated), checked, in :data:`ROLES` order.

    Examples
    --------
    >>> parse_roles(["read,predict"])
    ('predict', 'read')
    >>> parse_roles(["owner"])
    Traceback (most recent call last):
    ...
    bizmodel.errors.DataError: unknown role 'owner'; valid roles: predict, ingest, read, admin
    """
    names = {r.strip() for item in roles for r in str(item).split(",") if r.strip()}
    for name in sorted(names):
        if name not in ROLES:
            raise DataError(f"unknown role {name!r}; valid roles: {', '.join(ROLES)}")
    if not names:
        raise DataError(f"a key needs at least one role: {', '.join(ROLES)}")
    return tuple(r for r in ROLES if r in names)


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    roles: tuple[str, ...]
    name: str | None
    rate_per_minute: int | None  # None = the server's default (server.rate_per_minute)
    created_ts: datetime
    revoked_ts: datetime | None
    calls_per_day: int | None = None  # daily quota; None = the server's (server.calls_per_day)

    @property
    def active(self) -> bool:
        return self.revoked_ts is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "roles": list(self.roles),
            "name": self.name,
            "rate_per_minute": self.rate_per_minute,
            "calls_per_day": self.calls_per_day,
            "created_ts": self.created_ts.isoformat(),
            "revoked_ts": None if self.revoked_ts is None else self.revoked_ts.isoformat(),
        }

    def summary(self) -> str:
        state = "active" if self.active else f"revoked {self.revoked_ts:%Y-%m-%d %H:%M}"
        rate = f"{self.rate_per_minute}/min" if self.rate_per_minute else "default rate"
        quota = f"{self.calls_per_day}/day" if self.calls_per_day else "default quota"
        return (
            f"{self.id}  {','.join(self.roles):<24} {self.name or '-':<20} {rate:<14} "
            f"{quota:<16} {state}"
        )


@dataclass(frozen=True)
class NewKey:
    """A key just created: the only time its plain text exists outside its holder."""

    key: str
    info: ApiKey

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.info.to_dict()}

    def summary(self) -> str:
        return (
            f"{self.key}\n(shown once: store it now; the project keeps only its hash)\n"
            f"id {self.info.id}, roles {', '.join(self.info.roles)}"
        )


@dataclass(frozen=True)
class KeyList:
    keys: list[ApiKey]

    def to_dict(self) -> dict[str, Any]:
        return {"keys": [k.to_dict() for k in self.keys]}

    def summary(self) -> str:
        if not self.keys:
            return "No API keys (bizmodel keys create --role ROLE)."
        return "\n".join(k.summary() for k in self.keys)


@dataclass(frozen=True)
class AuditLog:
    entries: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries}

    def summary(self) -> str:
        if not self.entries:
            return "No admin actions recorded."
        return "\n".join(
            f"{e['ts']:%Y-%m-%d %H:%M:%S}  {e['actor']:<18} {e['action']:<18} {e['target'] or ''}"
            for e in self.entries
        )


def _api_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        roles=tuple(r for r in row["roles"].split(",") if r),
        name=row["name"],
        rate_per_minute=row["rate_per_minute"],
        created_ts=row["created_ts"],
        revoked_ts=row["revoked_ts"],
        calls_per_day=row.get("calls_per_day"),
    )


class KeyStore:
    """Create, list, check and revoke API keys in an :class:`~bizmodel.store.EventStore`;
    every change is written to the audit log in the same transaction."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def create(
        self,
        roles: Iterable[str],
        *,
        name: str | None = None,
        rate_per_minute: int | None = None,
        calls_per_day: int | None = None,
        actor: str,
    ) -> NewKey:
        """A new key with ``roles``; its plain text is in the result and nowhere else."""
        from bizmodel.store.db import now_utc
        from bizmodel.store.schema import api_keys

        checked = parse_roles(roles)
        if rate_per_minute is not None and rate_per_minute < 1:
            raise DataError(f"rate_per_minute must be at least 1, got {rate_per_minute}")
        if calls_per_day is not None and calls_per_day < 1:
            raise DataError(f"calls_per_day must be at least 1, got {calls_per_day}")
        if name is not None and not 1 <= len(name) <= 128:
            raise DataError("a key's name must have 1 to 128 characters")
        key_id = secrets.token_hex(6)
        key = f"bzk_{key_id}_{secrets.token_urlsafe(32)}"
        row = {
            "id": key_id,
            "key_sha256": key_sha256(key),
            "roles": ",".join(checked),
            "name": name,
            "rate_per_minute": rate_per_minute,
            "calls_per_day": calls_per_day,
            "created_ts": now_utc(),
            "revoked_ts": None,
        }
        detail = {
            "roles": list(checked),
            "name": name,
            "rate_per_minute": rate_per_minute,
            "calls_per_day": calls_per_day,
        }

        def write(conn: Connection) -> None:
            conn.execute(api_keys.insert(), row)
            _audit(conn, actor, "key.create", key_id, detail)

        self.store._write(write)
        return NewKey(key, _api_key(row))

    def revoke(self, key_id: str, *, actor: str) -> ApiKey:
        """Mark ``key_id`` revoked (kept for the audit trail); a revoked key stays revoked."""
        from sqlalchemy import update

        from bizmodel.store.db import now_utc
        from bizmodel.store.schema import api_keys

        def write(conn: Connection) -> int:
            n = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_ts.is_(None))
                .values(revoked_ts=now_utc())
            ).rowcount
            if n:
                _audit(conn, actor, "key.revoke", key_id, None)
            return int(n)

        self.store._write(write)
        return self.get(key_id)  # NotFoundError when there is no such key

    def get(self, key_id: str) -> ApiKey:
        row = self._row(key_id)
        if row is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _api_key(row)

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        from sqlalchemy import select

        from bizmodel.store.schema import api_keys

        stmt = select(api_keys).order_by(api_keys.c.created_ts, api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_ts.is_(None))
        return [_api_key(r) for r in self.store._read(stmt)]

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        """(key, its stored hash) for ``key_id``, or None; revoked keys are returned too."""
        row = self._row(key_id)
        return None if row is None else (_api_key(row), str(row["key_sha256"]))

    def verify(self, key: str) -> ApiKey | None:
        """The active key that ``key`` is, or None (malformed, unknown, wrong or revoked)."""
        match = KEY_PATTERN.match(key)
        if match is None:
            return None
        found = self.lookup(match.group(1))
        return check_secret(key, found)

    def _row(self, key_id: str) -> dict[str, Any] | None:
        from sqlalchemy import select

        from bizmodel.store.schema import api_keys

        rows = self.store._read(select(api_keys).where(api_keys.c.id == key_id))
        return rows[0] if rows else None

    # -- audit log -------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, target: str | None, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Record an admin action (``experiment.create``, ``model.promote``, ...)."""
        self.store._write(lambda conn: _audit(conn, actor, action, target, detail))

    def audit_log(self, limit: int | None = 100) -> list[dict[str, Any]]:
        """Recorded admin actions, newest first."""
        from sqlalchemy import select

        from bizmodel.store.schema import audit_log

        stmt = select(audit_log).order_by(audit_log.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        return self.store._read(stmt)


def check_secret(key: str, found: tuple[ApiKey, str] | None) -> ApiKey | None:
    """``found``'s key when ``key`` hashes to its stored hash and it is not revoked."""
    if found is None:
        return None
    info, digest = found
    if not hmac.compare_digest(key_sha256(key), digest) or not info.active:
        return None
    return info


def _audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str | None,
    detail: Mapping[str, Any] | None,
) -> None:
    from bizmodel.store.db import now_utc
    from bizmodel.store.schema import audit_log

    row = {
        "ts": now_utc(),
        "actor": actor[:64],
        "action": action[:32],
        "target": None if target is None else target[:128],
        "detail": None if detail is None else dict(detail),
    }
    conn.execute(audit_log.insert(), row)
