"""The KPI rollups on PostgreSQL with ~1M events: first fold, reads, folding live events.

Copies the events of :mod:`ab_test_store`'s SQLite store (build it first) into a fresh
database ``h3_rollups_1m`` on the given server (``COPY``), then times
:func:`bizmodel.store.rollups.refresh` over every event, :func:`event_rollup` for 7 days,
30 days and everything, :func:`run_monitor` over every day from the rollups, and two folds of
100 live events. The database is dropped afterwards.

Run:  PYTHONPATH=src nice -n 10 python benchmarks/rollups_postgres.py \
          postgresql+psycopg://postgres@127.0.0.1:PORT/postgres [--store PATH/bizmodel.db]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import time

import sqlalchemy as sa

from bizmodel.monitor.snapshot import run_monitor
from bizmodel.store import EventStore
from bizmodel.store.rollups import event_rollup, refresh

DB = "h3_rollups_1m"


def _median(call, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="a PostgreSQL URL whose server may create a database")
    ap.add_argument("--store", default="/tmp/bizmodel-ab-store/u100000/bizmodel.db")
    args = ap.parse_args()
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {DB}"))
        c.execute(sa.text(f"CREATE DATABASE {DB}"))
    store = EventStore.open(sa.engine.make_url(args.url).set(database=DB).render_as_string(False))
    try:
        rows = sqlite3.connect(args.store).execute(
            "SELECT ts, received_ts, user_id, type, value FROM events ORDER BY id"
        )
        utc = lambda s: dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC)  # noqa: E731
        start, n = time.perf_counter(), 0
        with store.engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cols = "ts, received_ts, user_id, type, value"
            with cur.copy(f"COPY events ({cols}) FROM STDIN") as copy:
                for ts, received, user, kind, value in rows:
                    copy.write_row((utc(ts), utc(received), user, kind, value))
                    n += 1
        print(f"copied {n:,} events in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        folded = refresh(store)
        print(f"first fold: {folded:,} events in {time.perf_counter() - start:.1f} s")
        for label, since, until in (
            ("7 days", "2026-03-28", "2026-04-04"),
            ("30 days", "2026-03-05", "2026-04-04"),
            ("every day", None, None),
        ):
            t = _median(lambda s=since, u=until: event_rollup(store, s, u))
            print(f"event_rollup, {label}: median {t:.3f} s")
        t = _median(lambda: run_monitor(event_rollup(store)))
        print(f"run_monitor over every day from the rollups: median {t:.3f} s")
        for k in range(2):
            ts = "2026-04-03T20:00:00Z"
            store.add_events(
                [{"user_id": f"u{100 * k + i}", "type": "visit", "ts": ts} for i in range(100)]
            )
            start = time.perf_counter()
            folded = refresh(store)
            print(f"fold {folded} live events: {time.perf_counter() - start:.3f} s")
    finally:
        store.close()
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))


if __name__ == "__main__":
    main()
