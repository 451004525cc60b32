"""API keys and the audit log in the store, on SQLite and PostgreSQL: only hashes are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizmodel.errors import DataError, NotFoundError
from bizmodel.store import EventStore
from bizmodel.store.keys import KEY_PATTERN, KeyStore, key_sha256, parse_roles


@pytest.fixture
def keys(db_url: str):  # type: ignore[no-untyped-def]
    store = EventStore.open(db_url)
    yield KeyStore(store)
    store.close()


def test_create_verify_revoke(keys: KeyStore) -> None:
    new = keys.create(["ingest", "predict"], name="ios-app", rate_per_minute=60, actor="cli")
    match = KEY_PATTERN.match(new.key)
    assert match is not None and match.group(1) == new.info.id
    assert new.info.roles == ("predict", "ingest")  # canonical order
    got = keys.verify(new.key)
    assert got is not None and got.id == new.info.id and got.rate_per_minute == 60
    forged = new.key[:-1] + ("A" if new.key[-1] != "A" else "B")
    assert keys.verify(forged) is None  # right id, wrong secret
    assert keys.verify("bzk_" + "0" * 12 + "_" + "x" * 43) is None  # unknown id
    assert keys.verify("not-a-key") is None
    revoked = keys.revoke(new.info.id, actor="cli")
    assert revoked.revoked_ts is not None and not revoked.active
    assert keys.verify(new.key) is None
    assert keys.revoke(new.info.id, actor="cli").revoked_ts == revoked.revoked_ts  # idempotent
    assert [k.id for k in keys.list_keys()] == [new.info.id]
    assert keys.list_keys(include_revoked=False) == []
    with pytest.raises(NotFoundError, match="no API key with id 'nope'"):
        keys.revoke("nope", actor="cli")


def test_only_the_hash_is_stored(keys: KeyStore) -> None:
    new = keys.create(["admin"], actor="cli")
    secret = new.key.split("_", 2)[2]
    rows = [*keys.store._read(_all("api_keys")), *keys.store._read(_all("audit_log"))]
    dumped = repr(rows)
    assert secret not in dumped and new.key not in dumped
    assert key_sha256(new.key) in dumped


def _all(table: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bizmodel.store.schema import metadata

    return select(metadata.tables[table])


def test_no_plaintext_in_the_sqlite_file(tmp_path: Path) -> None:
    store = EventStore.open(f"sqlite:///{tmp_path}/bizmodel.db")
    keys = KeyStore(store)
    made = [keys.create([role], name=f"k-{role}", actor="cli").key for role in ("read", "admin")]
    keys.revoke(made[0].split("_")[1], actor="cli")
    store.close()
    files = list(tmp_path.glob("bizmodel.db*"))  # the database, its WAL and shared memory
    data = b"".join(p.read_bytes() for p in files)
    assert data  # something was written
    for key in made:
        assert key.encode() not in data and key.split("_", 2)[2].encode() not in data
        assert key_sha256(key).encode() in data


def test_every_change_is_audited(keys: KeyStore) -> None:
    new = keys.create(["read"], name="dash", actor="env:1")
    keys.revoke(new.info.id, actor="key:abc")
    keys.audit("cli", "model.promote", "headlines", {"version": 2, "stage": "production"})
    log = keys.audit_log()
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        ("cli", "model.promote", "headlines"),
        ("key:abc", "key.revoke", new.info.id),
        ("env:1", "key.create", new.info.id),
    ]
    assert log[2]["detail"] == {
        "roles": ["read"],
        "name": "dash",
        "rate_per_minute": None,
        "calls_per_day": None,
    }
    assert log[0]["ts"].tzinfo is not None
    assert keys.audit_log(limit=1)[0]["action"] == "model.promote"


def test_roles_and_limits_are_checked(keys: KeyStore) -> None:
    assert parse_roles(["admin", "read,predict"]) == ("predict", "read", "admin")
    with pytest.raises(DataError, match="unknown role 'owner'"):
        keys.create(["owner"], actor="cli")
    with pytest.raises(DataError, match="at least one role"):
        keys.create([" "], actor="cli")
    with pytest.raises(DataError, match="rate_per_minute must be at least 1"):
        keys.create(["read"], rate_per_minute=0, actor="cli")
    assert keys.list_keys() == [] and keys.audit_log() == []  # nothing half-written


def test_an_existing_database_is_upgraded(db_url: str) -> None:
    """A store made before keys existed (revision 0001) gains the tables, keeping its rows."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from bizmodel.store.db import MIGRATIONS_DIR

    engine = create_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    store = EventStore.open(db_url)  # migrates to head
    try:
        store.add_events([{"user_id": "u", "type": "signup"}])
        assert KeyStore(store).create(["read"], actor="cli").info.roles == ("read",)
        assert store.count("api_keys") == 1 and store.count("events") == 1
    finally:
        store.close()
