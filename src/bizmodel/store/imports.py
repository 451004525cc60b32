"""Bulk import of business events from a CSV or Parquet file or a SQL query: ``events import``.

A *column mapping* says which source column holds each event field (``user_id``, ``type``,
``ts``, ``value``, ``experiment``, ``variant``, ``client_event_id``); a field not mapped is
read from the column of its own name when there is one, and ``constants`` give a field one
value for every row (e.g. ``experiment=email`` when the file has only the arm). ``user_id``,
``type`` and ``ts`` are required. A row with a variant is an exposure (see
:meth:`~bizmodel.store.EventStore.add_events`); leave the variant empty on other rows.

Idempotent: a row without a ``client_event_id`` gets one derived from its content,
``imp-`` + the first 32 hex digits of sha256(user, type, ts in UTC, value, experiment,
variant), plus ``-k`` for the k-th repeat of an identical row in the same source, so
importing the same file twice stores every row once. Rows are validated and written in
batches, each in one transaction: a bad row stops the import with a one-line error naming
the file, the row (1-based, header not counted) and the field, and nothing of its batch is
stored (earlier batches are; a re-import after the fix skips them). Timestamps must carry a
time zone unless ``timezone`` names the one that naive times are in.

The events can also go to a running server instead of a database (``store`` a
:class:`bizmodel.client.Client`; ``bizmodel events import FILE --to URL``): the same checks
and ids, ``POST /v1/events`` 1,000 rows a request, each request stored whole or not at all,
retries that store nothing twice (the ids above), and the experiments' arms read from the
server where the key may (``GET /v1/experiments``; else the server checks them). That needs
only an API key with the ``ingest`` role, not the database's address.

At its end the import folds the new events into the KPI rollups
(:func:`bizmodel.store.rollups.refresh`), so the first ``monitor``, report or dashboard read
after a large import does not pay for it (≈ 12 s for 1M events); ``folded`` and ``fold_s``
in the result say how many events and how long.

Examples
--------
>>> import io
>>> from bizmodel.store import EventStore
>>> store = EventStore.open("sqlite://")
>>> csv = io.StringIO("customer,event,time\\nc1,visit,2025-03-01T10:00:00Z\\n")
>>> mapping = ColumnMap.parse("user_id=customer,type=event,ts=time")
>>> r = import_events(store, csv, mapping)
>>> r.summary()  # doctest: +ELLIPSIS
'1 rows read: 1 events stored, 0 already stored; KPI rollups updated with 1 events in ... s'
>>> r.folded
1
>>> import_events(store, io.StringIO(csv.getvalue()), mapping).duplicates
1
>>> store.close()
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError, DataError

if TYPE_CHECKING:
    from bizmodel.client import Client
    from bizmodel.store.db import EventStore

__all__ = ["FIELDS", "ColumnMap", "ImportResult", "import_events"]

FIELDS = ("user_id", "type", "ts", "value", "experiment", "variant", "client_event_id")
_REQUIRED = ("user_id", "type", "ts")
_PATTERNS = {  # the same rules as POST /v1/events
    "type": re.compile(r"^[A-Za-z0-9_.:-]{1,64}$"),
    "experiment": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
    "variant": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
}
_MAX_LEN = {"user_id": 128, "client_event_id": 128}
_ZONE = r"(?:Z|z|[+-]\d\d(?::?\d\d)?)$"  # an ISO 8601 offset at the end of a timestamp


@dataclass(frozen=True)
class ColumnMap:
    """Event field -> source column, and event field -> one value for every row."""

    columns: Mapping[str, str] = field(default_factory=dict)  # e.g. {"user_id": "customer"}
    constants: Mapping[str, str] = field(default_factory=dict)  # e.g. {"experiment": "email"}

    @classmethod
    def parse(cls, columns: str | None = None, constants: str | None = None) -> ColumnMap:
        """From ``"field=column,field=column"`` and ``"field=value,..."`` (the CLI's form).

        Examples
        --------
        >>> ColumnMap.parse("user_id=customer,variant=segment", "experiment=email").columns
        {'user_id': 'customer', 'variant': 'segment'}
        >>> ColumnMap.parse("who=customer")
        Traceback (most recent call last):
        ...
        bizmodel.errors.ConfigError: --map: unknown event field 'who'; fields: user_id, ...
        """
        return cls(_pairs(columns, "--map"), _pairs(constants, "--set"))

    def resolve(self, available: list[str]) -> dict[str, str]:
        """Field -> source column, the unmapped fields read from same-named columns."""
        out = {f: f for f in FIELDS if f in available and f not in self.constants}
        out.update(self.columns)
        missing = [f"{f} -> {c!r}" for f, c in self.columns.items() if c not in available]
        if missing:
            raise DataError(
                f"mapped column(s) not in the source: {', '.join(missing)}; its columns: "
                f"{', '.join(available)}"
            )
        absent = [f for f in _REQUIRED if f not in out and f not in self.constants]
        if absent:
            raise DataError(
                f"no column for {', '.join(absent)}: map one (--map {absent[0]}=COLUMN); "
                f"the source's columns: {', '.join(available)}"
            )
        return out


def _pairs(text: str | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ConfigError(f"{option}: {part!r} is not FIELD=VALUE")
        if key not in FIELDS:
            raise ConfigError(f"{option}: unknown event field {key!r}; fields: {', '.join(FIELDS)}")
        if key in out:
            raise ConfigError(f"{option}: field {key!r} given twice")
        out[key] = value
    return out


@dataclass(frozen=True)
class ImportResult:
    """What an import read and stored."""

    source: str
    rows: int  # rows read
    inserted: int  # events stored now
    duplicates: int  # rows already stored (same client_event_id)
    folded: int = 0  # events folded into the KPI rollups at the end (these and any earlier)
    fold_s: float = 0.0  # seconds that fold took

    def to_dict(self) -> dict[str, Any]:
        keys = ("source", "rows", "inserted", "duplicates", "folded", "fold_s")
        return {k: getattr(self, k) for k in keys}

    def summary(self) -> str:
        text = (
            f"{self.rows} rows read: {self.inserted} events stored, "
            f"{self.duplicates} already stored"
        )
        if self.folded:
            text += f"; KPI rollups updated with {self.folded} events in {self.fold_s:.2f} s"
        return text


Source = str | Path | Any  # a path, a file object (CSV), or a SQL query (see import_events)


def import_events(
    store: EventStore | Client,
    source: Source,
    mapping: ColumnMap | None = None,
    *,
    sql_url: str | None = None,
    timezone: str | None = None,
    batch_rows: int = 10_000,
    progress: Callable[[int], None] | None = None,
    fold: bool = True,
) -> ImportResult:
    """Store the events of ``source`` (see the module docstring); return the counts.

    ``store`` is the event store, or a :class:`bizmodel.client.Client` of a running server
    (then nothing is folded here: the server folds on its next read). ``source`` is a
    ``.csv``/``.parquet`` path or a CSV file object, or, with ``sql_url`` (any SQLAlchemy
    URL), a ``SELECT`` run there. ``progress`` is called with the number of rows read after
    each batch. With ``fold`` (default) the new events are folded into the KPI rollups at the
    end, not by the next read.
    """
    mapping = mapping or ColumnMap()
    zone = _zone(timezone)
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be >= 1, got {batch_rows}")
    name, chunks = _open(source, sql_url, batch_rows)
    from bizmodel.client import Client

    arms = _arms(store)
    seen: set[int] = set()  # content hashes so far: the k-th identical row gets its own id
    rows = inserted = 0
    resolved: dict[str, str] | None = None
    for frame in chunks:
        if resolved is None:
            resolved = mapping.resolve([str(c) for c in frame.columns])
        try:
            batch = _events(frame, resolved, mapping.constants, zone, arms, rows, seen)
        except DataError as exc:
            raise DataError(str(exc), file=name) from None
        if isinstance(store, Client):
            inserted += _send(store, batch, rows, name)
        else:
            try:
                inserted += store.insert_events(batch).inserted
            except DataError as exc:  # e.g. a value the database refuses: name the batch
                raise DataError(f"rows {rows + 1}-{rows + len(frame)}: {exc}", file=name) from None
        rows += len(frame)
        if progress is not None:
            progress(rows)
    folded, fold_s = _fold(store) if fold and not isinstance(store, Client) else (0, 0.0)
    return ImportResult(name, rows, inserted, rows - inserted, folded, fold_s)


def _arms(store: EventStore | Client) -> dict[str, list[str]]:
    """Each defined experiment's arms, from the store or the server (where the key may read
    them; an ``ingest``-only key may not, and the server checks the arms itself)."""
    from bizmodel.client import Client
    from bizmodel.errors import ApiError

    if not isinstance(store, Client):
        experiments = store.list_experiments()
    else:
        try:
            experiments = store.request("GET", "/v1/experiments")
        except ApiError as exc:
            if exc.status not in (401, 403):
                raise
            experiments = []
    return {e["name"]: [v["name"] for v in e["variants"]] for e in experiments}


# where the server names an event of the request: "events.12.variant: ..." (validation) or
# "event 12: ..." (the store's checks), 0-based
_EVENT_INDEX = re.compile(r"^events?(?:\.| )(\d+)(?:\.|: )(.*)$")


def _send(client: Client, batch: list[dict[str, Any]], offset: int, name: str) -> int:
    """POST ``batch`` 1,000 events a request; return how many the server stored. A request
    the server refuses (422) is a DataError naming the row of the event it names."""
    from bizmodel.client import MAX_EVENTS_PER_REQUEST
    from bizmodel.errors import ApiError

    stored = 0
    for start in range(0, len(batch), MAX_EVENTS_PER_REQUEST):
        part = batch[start : start + MAX_EVENTS_PER_REQUEST]
        try:
            stored += client.send_events(part, batch_size=MAX_EVENTS_PER_REQUEST).inserted
        except ApiError as exc:
            if exc.status != 422:
                raise
            first = offset + start + 1
            where = f"rows {first}-{first + len(part) - 1}"
            detail = exc.detail or ""
            hit = _EVENT_INDEX.match(detail)
            if hit:
                where = f"row {first + int(hit.group(1))}"
                detail = hit.group(2)
            raise DataError(f"{where}: the server refused it: {detail}", file=name) from None
    return stored


def _fold(store: EventStore) -> tuple[int, float]:
    """Fold the store's new events into the KPI rollups: (events, seconds)."""
    import time

    from bizmodel.store.rollups import refresh

    start = time.perf_counter()
    folded = refresh(store)
    return folded, round(time.perf_counter() - start, 3)


def _zone(timezone: str | None) -> Any:
    if timezone is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--timezone {timezone!r} is not a time zone; use an IANA name such as UTC or "
            "Europe/Paris"
        ) from None


def _open(source: Source, sql_url: str | None, batch_rows: int) -> tuple[str, Iterator[Any]]:
    """A display name and an iterator of DataFrames of at most ``batch_rows`` rows."""
    if sql_url is not None:
        return "query", _query(str(source), sql_url, batch_rows)
    if not isinstance(source, str | Path):  # a file object: CSV
        return "input", _csv(source, batch_rows)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"no file {str(path)!r}")
    if path.suffix == ".csv":
        return path.name, _csv(path, batch_rows)
    if path.suffix == ".parquet":
        return path.name, _parquet(path, batch_rows)
    raise DataError(f"cannot import {path.name!r}: the file must end in .csv or .parquet")


def _csv(source: Any, batch_rows: int) -> Iterator[Any]:
    # text as it is written: types are decided per field below, with row-level errors
    yield from pd.read_csv(source, chunksize=batch_rows, dtype=str, keep_default_na=False)


def _parquet(path: Path, batch_rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield batch.to_pandas()


def _query(sql: str, url: str, batch_rows: int) -> Iterator[Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"--url {url!r} is not usable: {exc}") from None
    try:
        with engine.connect() as conn:
            yield from pd.read_sql(text(sql), conn, chunksize=batch_rows)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else exc
        raise DataError(f"the query failed: {getattr(cause, 'orig', None) or cause}") from None
    finally:
        engine.dispose()


def _events(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    constants: Mapping[str, str],
    zone: Any,
    arms: Mapping[str, list[str]],
    offset: int,
    seen: set[int],
) -> list[dict[str, Any]]:
    """The rows of ``frame`` as event dicts for :meth:`EventStore.add_events`; a bad row
    raises DataError naming its row (``offset`` + position + 1) and field."""
    n = len(frame)
    index = pd.RangeIndex(n)

    def bad(mask: Any, fld: str, why: str) -> None:
        hits = np.flatnonzero(np.asarray(mask, dtype=bool))
        if hits.size:
            i = int(hits[0])
            col = f"column {columns[fld]!r} ({fld})" if fld in columns else fld
            raw = frame[columns[fld]].iloc[i] if fld in columns else constants.get(fld)
            raise DataError(f"row {offset + i + 1}, {col}: {why}; got {raw!r}")

    def text(fld: str) -> pd.Series:
        if fld in constants:
            return pd.Series([constants[fld]] * n, index=index, dtype=object)
        if fld not in columns:
            return pd.Series([None] * n, index=index, dtype=object)
        raw = frame[columns[fld]].reset_index(drop=True)
        empty = raw.isna() | (raw.astype(str).str.strip() == "")
        return raw.astype(str).str.strip().astype(object).where(~empty, None)

    out = {f: text(f) for f in ("user_id", "type", "experiment", "variant", "client_event_id")}
    for fld in ("user_id", "type"):
        bad(out[fld].isna(), fld, "is empty")
    for fld, limit in _MAX_LEN.items():
        bad(out[fld].str.len() > limit, fld, f"is longer than {limit} characters")
    for fld, pattern in _PATTERNS.items():
        s = out[fld]
        ok = s.isna() | s.fillna("").str.match(pattern.pattern)
        bad(~ok, fld, f"does not match {pattern.pattern}")
    exp, var = out["experiment"], out["variant"]
    if "experiment" in constants:  # the experiment of every row that has a variant
        out["experiment"] = exp = exp.where(var.notna(), None)
    bad(exp.isna() != var.isna(), "variant", "experiment and variant go together")
    for name, valid in arms.items():
        bad((exp == name) & ~var.isin(valid), "variant", f"not an arm of {name!r} ({valid})")
    ts = _timestamps(frame, columns, constants, zone, bad, index)
    value = _values(frame, columns, constants, bad, index)
    out["client_event_id"] = _client_ids(out, ts, value, seen)
    cols = {k: v.astype(object).where(v.notna(), None).tolist() for k, v in out.items()}
    cols["ts"] = list(ts.dt.to_pydatetime())
    cols["value"] = [None if v != v else v for v in value.tolist()]  # NaN: no value
    return [dict(zip(cols, r, strict=True)) for r in zip(*cols.values(), strict=True)]


def _timestamps(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    constants: Mapping[str, str],
    zone: Any,
    bad: Callable[[Any, str, str], None],
    index: pd.RangeIndex,
) -> pd.Series:
    """UTC timestamps; naive ones are in ``zone`` (an error without one)."""
    raw: Any
    if "ts" in constants:
        raw = pd.Series([constants["ts"]] * len(index), index=index, dtype=object)
    else:
        raw = frame[columns["ts"]].reset_index(drop=True)
    hint = "give a time zone in the data or --timezone (e.g. UTC, Europe/Paris)"
    if pd.api.types.is_datetime64_any_dtype(raw):  # Parquet, SQL: one zone for the column
        bad(raw.isna(), "ts", "is empty")
        parsed = raw
        if raw.dt.tz is None:
            if zone is None:
                bad(raw.notna(), "ts", f"has no time zone; {hint}")
            parsed = raw.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        bad(parsed.isna(), "ts", f"does not exist or is ambiguous in {zone}")
        return parsed.dt.tz_convert("UTC").reset_index(drop=True)
    s = raw.astype(object).where(raw.notna(), "").map(lambda v: str(v).strip())
    bad(s == "", "ts", "is empty")
    zoned = s.str.contains(_ZONE, regex=True)
    if zone is None:
        bad(~zoned, "ts", f"has no time zone; {hint}")
    out = pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    if zoned.any():
        out[zoned] = pd.to_datetime(s[zoned], utc=True, format="ISO8601", errors="coerce")
    if (~zoned).any():
        local = pd.to_datetime(s[~zoned], format="ISO8601", errors="coerce")
        bad(local.isna().reindex(index, fill_value=False), "ts", "is not an ISO 8601 timestamp")
        aware = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        gap = aware.isna().reindex(index, fill_value=False)
        bad(gap, "ts", f"does not exist or is ambiguous in {zone} (a clock change)")
        out[~zoned] = aware.dt.tz_convert("UTC")
    bad(out.isna(), "ts", "is not an ISO 8601 timestamp")
    return out


def _values(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    constants: Mapping[str, str],
    bad: Callable[[Any, str, str], None],
    index: pd.RangeIndex,
) -> pd.Series:
    if "value" in constants:
        raw = pd.Series([constants["value"]] * len(index), index=index, dtype=object)
    elif "value" in columns:
        raw = frame[columns["value"]].reset_index(drop=True)
    else:
        return pd.Series(np.nan, index=index)
    if not pd.api.types.is_numeric_dtype(raw):  # text: an empty cell is no value
        raw = raw.astype(object).where(raw.notna() & (raw.astype(str).str.strip() != ""), None)
    value = pd.to_numeric(raw, errors="coerce").astype(float)
    bad(value.isna() & raw.notna(), "value", "is not a number")
    bad(value.abs() > 1e15, "value", "is not a finite number within ±1e15")
    return value


def _client_ids(
    out: Mapping[str, pd.Series], ts: pd.Series, value: pd.Series, seen: set[int]
) -> pd.Series:
    """The given client event ids, or ids derived from each row's content."""
    iso = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    parts = [out["user_id"], out["type"], iso, value.map(repr)]
    parts += [out["experiment"].fillna(""), out["variant"].fillna("")]
    content = parts[0].str.cat(parts[1:], sep="\x1f")
    ids = []
    for text, given in zip(content, out["client_event_id"], strict=True):
        if given is not None:
            ids.append(given)
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        key, k = int(digest, 16), 1
        while key + k - 1 in seen:  # the k-th identical row
            k += 1
        seen.add(key + k - 1)
        ids.append(f"imp-{digest}" if k == 1 else f"imp-{digest}-{k}")
    return pd.Series(ids, index=ts.index, dtype=object)
