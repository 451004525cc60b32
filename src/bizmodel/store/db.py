"""The event store: open a database, migrate it, write and read records.

SQLite (the default, one file in the project folder) runs in WAL mode with
``synchronous=FULL``: a commit is on disk before it returns, so an HTTP 2xx answered after a
commit means the row survives a crash. PostgreSQL is reached through a
``postgresql+psycopg://`` URL. All statements are SQLAlchemy Core with bound parameters.

Examples
--------
>>> store = EventStore.open("sqlite://")
>>> store.add_events([{"user_id": "u1", "type": "signup", "client_event_id": "e1"}])
EventWriteResult(received=1, inserted=1, duplicates=0)
>>> store.add_events([{"user_id": "u1", "type": "signup", "client_event_id": "e1"}]).duplicates
1
>>> store.count("events")
1
>>> store.close()
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError, ConflictError, DataError, NotFoundError, StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_TABLES = (
    "predictions", "feedback", "events", "experiments", "assignments", "api_keys", "audit_log",
)  # fmt: skip


@dataclass(frozen=True)
class EventWriteResult:
    """Outcome of a batch of events: how many were new and how many were already stored."""

    received: int
    inserted: int
    duplicates: int

    def to_dict(self) -> dict[str, int]:
        return {"received": self.received, "inserted": self.inserted, "duplicates": self.duplicates}

    def summary(self) -> str:
        return f"{self.inserted} events stored, {self.duplicates} duplicates ignored"


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def head_revision() -> str:
    """The newest migration's revision id: its file name's leading number
    (``migrations/versions/NNNN_*.py``), read without importing Alembic.

    Examples
    --------
    >>> head_revision() >= "0004"
    True
    """
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1][:4]


def _at_head(engine: Engine) -> bool:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:  # a new database: no version table yet
        return False
    return version == head_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the database at ``engine`` to the newest schema (Alembic ``upgrade head``).

    A database already at the newest revision is left alone without loading Alembic (a
    second off every command and request that opens the store).
    """
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _make_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.pool import StaticPool

    try:
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            pool_opts: dict[str, Any] = (
                {"poolclass": StaticPool} if memory else {"pool_size": 10, "max_overflow": 40}
            )
            engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, **pool_opts
            )

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                cur.execute("PRAGMA synchronous=FULL")  # commit = fsynced: 2xx means durable
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        # Enough connections for the server's worker threads (40 by default in anyio).
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"database URL {url!r} is not usable: {exc}; expected sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None


class EventStore:
    """Access to one database. Thread-safe; open it once per process and share it.

    Use :meth:`open` rather than the constructor: it creates the engine and migrates.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer at a time; serialising writes here avoids "database is locked".
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def open(cls, url: str) -> EventStore:
        """Connect to ``url`` and migrate its schema to the newest version.

        Raises
        ------
        StoreError
            When the database cannot be reached or migrated.
        """
        from sqlalchemy.exc import SQLAlchemyError

        if url.startswith("sqlite:///") and url not in ("sqlite:///:memory:",):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = _make_engine(url)
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the event store at {engine.url!r}: {exc}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def _write(self, fn: Any) -> Any:
        from sqlalchemy.exc import DataError as SQLDataError
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

        try:
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    return fn(conn)
            with self._write_lock, self.engine.begin() as conn:
                return fn(conn)
        # Messages keep the database's words for the log and the CLI; `public` (what an HTTP
        # client reads) has no SQL in it.
        except IntegrityError as exc:
            raise ConflictError(
                f"the store refused the write: {exc.orig}",
                public="the write conflicts with a stored record",
            ) from None
        except SQLDataError as exc:  # e.g. PostgreSQL refuses NUL characters in text
            raise DataError(
                f"the store refused a value: {exc.orig}",
                public="the store refused a value (e.g. a NUL character in a text)",
            ) from None
        except SQLAlchemyError as exc:  # unreachable, locked, pool exhausted: retryable (503)
            raise StoreError(f"the event store is not available: {exc}") from None

    def _insert(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def log_predictions(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert prediction records in one transaction; return their ids.

        Each row needs ``model_name``, ``model_version``, ``inputs``, ``output``,
        ``latency_ms``; ``id``, ``ts``, ``input_hash``, costs, ``user_id``, ``experiment`` and
        ``variant`` are optional. A row whose ``id`` is already stored is skipped.
        """
        from bizmodel.store.schema import predictions

        if not rows:
            return []
        values = [_prediction_row(r) for r in rows]
        # An id already stored is a retried request's (ids derived from an Idempotency-Key):
        # the first record stands.
        stmt = self._insert(predictions).on_conflict_do_nothing(index_elements=["id"])
        self._write(lambda conn: conn.execute(stmt, values))
        return [v["id"] for v in values]

    def add_feedback(
        self,
        prediction_id: str,
        *,
        rating: float | None = None,
        correction: Any = None,
        comment: str | None = None,
        user_id: str | None = None,
        ts: Any = None,
        client_feedback_id: str | None = None,
    ) -> int:
        """Store a user's rating or correction of prediction ``prediction_id``; return its id.

        ``ts`` is when it was given (naive = UTC); default: now. ``client_feedback_id`` (at
        most 64 characters) makes it idempotent: feedback with an id already stored is not
        stored again, and the stored row's id is returned.

        Raises
        ------
        NotFoundError
            When no prediction has that id.
        """
        from sqlalchemy import select

        from bizmodel.store.schema import feedback, predictions

        if rating is None and correction is None and comment is None:
            raise DataError("feedback needs at least one of rating, correction or comment")

        row = {
            "ts": now_utc() if ts is None else _utc(ts, "feedback"),
            "prediction_id": prediction_id,
            "user_id": user_id,
            "rating": rating,
            "correction": correction,
            "comment": comment,
            "client_feedback_id": client_feedback_id,
        }
        stmt = self._insert(feedback).returning(feedback.c.id)
        if client_feedback_id is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["client_feedback_id"])

        def write(conn: Connection) -> int:
            found = conn.execute(
                select(predictions.c.id).where(predictions.c.id == prediction_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no prediction with id {prediction_id!r}")
            fid = conn.execute(stmt, row).scalar()
            if fid is None:  # stored before, by an earlier try of the same request
                fid = conn.execute(
                    select(feedback.c.id).where(feedback.c.client_feedback_id == client_feedback_id)
                ).scalar_one()
            return int(fid)

        return int(self._write(write))

    def add_events(self, items: Iterable[Mapping[str, Any]]) -> EventWriteResult:
        """Insert business events in one transaction, skipping client event ids already stored.

        Each item has ``user_id``, ``type`` and optionally ``value``, ``ts``, ``properties``,
        ``client_event_id``, and ``experiment`` with ``variant`` (together). Events without a
        client id are always inserted. An event with an experiment is an exposure: its variant
        must be one of the experiment's arms (when the experiment is defined), and the user's
        assignment is recorded in the same transaction (see :meth:`record_assignment`).
        """
        from bizmodel.store.schema import events

        received = now_utc()
        rows = [_event_row(e, received, i) for i, e in enumerate(items)]
        if not rows:
            return EventWriteResult(0, 0, 0)
        stmt = (
            self._insert(events)
            .on_conflict_do_nothing(index_elements=["client_event_id"])
            .returning(events.c.id)
        )

        def write(conn: Connection) -> int:
            exposed = _exposures(conn, rows)
            n = len(conn.execute(stmt, rows).all())
            if exposed:
                conn.execute(self._assignment_upsert(), exposed)
            return n

        inserted = int(self._write(write))
        return EventWriteResult(len(rows), inserted, len(rows) - inserted)

    def insert_events(self, rows: Sequence[Mapping[str, Any]]) -> EventWriteResult:
        """Bulk path of :meth:`add_events` for rows already checked (``events import``).

        Each row has ``client_event_id`` (not None), ``ts`` (an aware datetime), ``user_id``,
        ``type``, ``value``, ``experiment`` and ``variant`` (None where absent); no
        properties. One transaction through the driver's own ``executemany`` (no per-value
        processing): several times faster than :meth:`add_events` on large batches. The
        exposures and their checks are the same.
        """
        if not rows:
            return EventWriteResult(0, 0, 0)
        sqlite = self.dialect == "sqlite"
        fmt: Any = _sqlite_ts if sqlite else (lambda t: t)
        ph = "?" if sqlite else "%s"
        received = fmt(now_utc())
        params = [
            (r["client_event_id"], fmt(r["ts"]), received, r["user_id"], r["type"], r["value"],
             r["experiment"], r["variant"])
            for r in rows
        ]  # fmt: skip
        cols = "client_event_id, ts, received_ts, user_id, type, value, experiment, variant"
        insert = (
            f"INSERT INTO events ({cols}) VALUES ({', '.join([ph] * 8)}) "
            "ON CONFLICT (client_event_id) DO NOTHING"
        )
        upsert = (
            f"INSERT INTO assignments (experiment, user_id, variant, ts) VALUES ({ph}, {ph}, "
            f"{ph}, {ph}) ON CONFLICT (experiment, user_id) DO UPDATE SET ts = excluded.ts "
            "WHERE assignments.variant = excluded.variant AND excluded.ts < assignments.ts"
        )

        def write(conn: Connection) -> int:
            exposed = _exposures(conn, rows)
            n = conn.exec_driver_sql(insert, params).rowcount
            if exposed:
                conn.exec_driver_sql(
                    upsert,
                    [(e["experiment"], e["user_id"], e["variant"], fmt(e["ts"])) for e in exposed],
                )
            return int(n)

        inserted = int(self._write(write))
        return EventWriteResult(len(rows), inserted, len(rows) - inserted)

    def create_experiment(
        self,
        name: str,
        variants: Sequence[Mapping[str, Any]],
        *,
        salt: str | None = None,
        model_name: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Define experiment ``name`` with weighted variants; raise ConflictError if it exists."""
        from bizmodel.store.assignment import validate_variants
        from bizmodel.store.schema import experiments

        clean = validate_variants(variants, needs_model_version=model_name is not None)
        row = {
            "name": name,
            "salt": salt or uuid.uuid4().hex,
            "variants": clean,
            "model_name": model_name,
            "status": "running",
            "description": description,
            "created_ts": now_utc(),
        }
        try:
            self._write(lambda conn: conn.execute(experiments.insert(), row))
        except ConflictError:
            raise ConflictError(f"experiment {name!r} already exists") from None
        return row

    def set_experiment_status(self, name: str, status: str) -> dict[str, Any]:
        """Set experiment ``name`` to ``running`` or ``stopped``."""
        from sqlalchemy import update

        from bizmodel.store.schema import experiments

        if status not in ("running", "stopped"):
            raise DataError(f"status must be 'running' or 'stopped', got {status!r}")
        n = self._write(
            lambda conn: (
                conn.execute(
                    update(experiments).where(experiments.c.name == name).values(status=status)
                ).rowcount
            )
        )
        if not n:
            raise NotFoundError(f"no experiment named {name!r}")
        return self.get_experiment(name)

    def delete_experiment(self, name: str) -> None:
        """Remove experiment ``name`` and its assignments."""
        from sqlalchemy import delete

        from bizmodel.store.schema import assignments, experiments

        def write(conn: Connection) -> int:
            conn.execute(delete(assignments).where(assignments.c.experiment == name))
            return int(conn.execute(delete(experiments).where(experiments.c.name == name)).rowcount)

        if not self._write(write):
            raise NotFoundError(f"no experiment named {name!r}")

    def record_assignment(
        self, experiment: str, user_id: str, variant: str, *, ts: Any = None
    ) -> None:
        """Remember that ``user_id`` was exposed to ``variant`` at ``ts`` (default: now).

        Sticky: the first variant recorded for a user stays. The exposure time is the
        earliest one given for that variant, so importing history after live traffic moves
        the exposure back to when it happened. ``ts`` must carry a time zone.
        """
        row = {
            "experiment": experiment,
            "user_id": user_id,
            "variant": variant,
            "ts": aware_utc(ts, "assignment"),
        }
        self._write(lambda conn: conn.execute(self._assignment_upsert(), row))

    def _assignment_upsert(self) -> Any:
        from bizmodel.store.schema import assignments as a

        stmt = self._insert(a)
        new = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=["experiment", "user_id"],
            set_={"ts": new.ts},
            where=(a.c.variant == new.variant) & (new.ts < a.c.ts),
        )

    # -- reading ---------------------------------------------------------------------------

    def _read(self, stmt: Any) -> list[dict[str, Any]]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                return [_aware(dict(r._mapping)) for r in conn.execute(stmt)]
        except SQLAlchemyError as exc:
            raise StoreError(f"the event store is not available: {exc}") from None

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        from sqlalchemy import func, select

        from bizmodel.store.schema import metadata

        if table not in _TABLES:
            raise DataError(f"unknown table {table!r}; valid: {', '.join(_TABLES)}")
        stmt = select(func.count().label("n")).select_from(metadata.tables[table])
        return int(self._read(stmt)[0]["n"])

    def get_experiment(self, name: str) -> dict[str, Any]:
        from sqlalchemy import select

        from bizmodel.store.schema import experiments

        rows = self._read(select(experiments).where(experiments.c.name == name))
        if not rows:
            raise NotFoundError(f"no experiment named {name!r}")
        return rows[0]

    def list_experiments(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from bizmodel.store.schema import experiments

        return self._read(select(experiments).order_by(experiments.c.name))

    def events(
        self, *, type: str | None = None, user_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored events in insertion order, optionally filtered."""
        from bizmodel.store.schema import events

        return self._select(events, limit, type=type, user_id=user_id)

    def predictions(
        self, *, model_name: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored predictions in time order."""
        from bizmodel.store.schema import predictions

        return self._select(predictions, limit, model_name=model_name)

    def feedback(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored feedback joined with nothing: one dict per row."""
        from bizmodel.store.schema import feedback

        return self._select(feedback, limit)

    def assignments(self, experiment: str | None = None) -> list[dict[str, Any]]:
        from bizmodel.store.schema import assignments

        return self._select(assignments, None, experiment=experiment)

    def _select(self, table: Any, limit: int | None, **filters: Any) -> list[dict[str, Any]]:
        from sqlalchemy import select

        order = table.c.ts if "ts" in table.c and "id" not in table.c else table.c.id
        stmt = select(table).order_by(order)
        for key, value in filters.items():
            if value is not None:
                stmt = stmt.where(table.c[key] == value)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._read(stmt)

    def export_events(self, path: str | Path) -> int:
        """Write all events to ``path`` (``.csv`` or ``.parquet``); return the row count."""
        import json

        import pandas as pd

        out = Path(path)
        if out.suffix not in (".csv", ".parquet"):
            raise DataError(f"cannot export to {out.name!r}: the file must end in .csv or .parquet")
        rows = self.events()
        cols = ["id", "client_event_id", "ts", "received_ts", "user_id", "type", "value"]
        cols += ["experiment", "variant"]
        frame = pd.DataFrame(rows, columns=[*cols, "properties"])
        frame["properties"] = [
            None if p is None else json.dumps(p, sort_keys=True) for p in frame["properties"]
        ]
        for col in ("ts", "received_ts"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
        return len(frame)


def _sqlite_ts(t: datetime) -> str:
    # what SQLAlchemy's SQLite DateTime writes (UTC wall time), so both read back alike
    return t.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    # SQLite stores timestamps without their zone; every timestamp written here is UTC.
    for key, value in row.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            row[key] = value.replace(tzinfo=UTC)
    return row


def _utc(ts: Any, where: str) -> datetime:
    if ts is None:
        return now_utc()
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts)
        except ValueError:
            raise DataError(f"{where}: ts {ts!r} is not an ISO 8601 timestamp") from None
    if not isinstance(ts, datetime):
        raise DataError(f"{where}: ts must be a datetime or ISO 8601 string, got {ts!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def aware_utc(ts: Any, where: str) -> datetime:
    """``ts`` (a datetime or ISO 8601 text with a time zone) in UTC; ``None`` is now.

    Examples
    --------
    >>> aware_utc("2026-01-02T03:00:00+01:00", "event 0")
    datetime.datetime(2026, 1, 2, 2, 0, tzinfo=datetime.timezone.utc)
    >>> aware_utc("2026-01-02T03:00:00", "event 0")
    Traceback (most recent call last):
    ...
    bizmodel.errors.DataError: event 0: ts '2026-01-02T03:00:00' has no time zone; \
give one (e.g. 2026-01-02T03:00:00+00:00 or ...Z)
    """
    if ts is None:
        return now_utc()
    parsed = _utc(ts, where)  # parses and checks the type
    if (datetime.fromisoformat(ts) if isinstance(ts, str) else ts).tzinfo is None:
        raise DataError(
            f"{where}: ts {str(ts)!r} has no time zone; give one "
            f"(e.g. {parsed.replace(tzinfo=None).isoformat()}+00:00 or ...Z)"
        )
    return parsed


def _event_row(e: Mapping[str, Any], received: datetime, i: int) -> dict[str, Any]:
    missing = [k for k in ("user_id", "type") if not e.get(k)]
    if missing:
        raise DataError(f"event {i}: missing {', '.join(missing)} (got keys {sorted(e)})")
    experiment, variant = e.get("experiment"), e.get("variant")
    if (experiment is None) != (variant is None):
        raise DataError(
            f"event {i}: experiment and variant go together; got experiment={experiment!r}, "
            f"variant={variant!r}"
        )
    return {
        "client_event_id": e.get("client_event_id"),
        "ts": _utc(e.get("ts"), f"event {i}"),
        "received_ts": received,
        "user_id": str(e["user_id"]),
        "type": str(e["type"]),
        "value": None if e.get("value") is None else float(e["value"]),
        "properties": e.get("properties"),
        "experiment": None if experiment is None else str(experiment),
        "variant": None if variant is None else str(variant),
    }


def _exposures(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The assignments that ``rows`` (event rows) imply: per experiment and user, the variant
    of the earliest event. Raises DataError for a variant that is not one of a defined
    experiment's arms."""
    from sqlalchemy import select

    from bizmodel.store.schema import experiments

    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["experiment"] is None:
            continue
        key = (r["experiment"], r["user_id"])
        if key not in first or r["ts"] < first[key]["ts"]:
            first[key] = {"experiment": key[0], "user_id": key[1], "variant": r["variant"]}
            first[key]["ts"] = r["ts"]
    if not first:
        return []
    names = sorted({e for e, _ in first})
    found = conn.execute(
        select(experiments.c.name, experiments.c.variants).where(experiments.c.name.in_(names))
    )
    arms = {name: [v["name"] for v in variants] for name, variants in found}
    for i, r in enumerate(rows):
        valid = arms.get(r["experiment"])
        if valid is not None and r["variant"] not in valid:
            raise DataError(
                f"event {i}: variant {r['variant']!r} is not an arm of experiment "
                f"{r['experiment']!r}; its arms: {', '.join(valid)}"
            )
    return list(first.values())


def _prediction_row(r: Mapping[str, Any]) -> dict[str, Any]:
    import hashlib
    import json

    inputs = r["inputs"]
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return {
        "id": r.get("id") or uuid.uuid4().hex,
        "ts": now_utc() if r.get("ts") is None else _utc(r["ts"], "prediction"),
        "model_name": r["model_name"],
        "model_version": int(r["model_version"]),
        "input_hash": r.get("input_hash") or digest,
        "inputs": inputs,
        "output": r["output"],
        "latency_ms": float(r["latency_ms"]),
        "cpu_seconds": float(r.get("cpu_seconds", 0.0)),
        "cost_usd": float(r.get("cost_usd", 0.0)),
        "user_id": r.get("user_id"),
        "experiment": r.get("experiment"),
        "variant": r.get("variant"),
    }
