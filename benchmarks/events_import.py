"""``events import`` vs ``POST /v1/events`` on the real Hillstrom log, and the A/B numbers after.

The 64,000 customers of ``../shared/data/hillstrom`` become an event log in a product's own
column names (:func:`bizmodel.datasets.hillstrom_event_log`): one ``exposure`` row per
customer with its segment as the variant, spread over two weeks; a ``visit`` one hour later
where ``visit`` = 1; a ``purchase`` two hours later with ``spend`` as value where
``conversion`` = 1. The same rows are then

1. imported with :func:`bizmodel.store.imports.import_events` from CSV and from Parquet into
   fresh SQLite projects (and imported again: every row is a duplicate),
2. sent through ``POST /v1/events`` in batches of 1,000 (the API's maximum) to a fresh
   project from one client: in process (Starlette's TestClient: no network, an upper bound),
   and to ``bizmodel serve`` in its own process over 127.0.0.1 with httpx,

and ``ab-test --project --experiment email`` (visit and conversion within 14 days, spend)
on the imported store must equal ``ab-test hillstrom.csv`` to 1e-9 (asserted).

Run:  PYTHONPATH=src nice -n 10 python benchmarks/events_import.py [--data DIR] [--postgres URL]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bizmodel.config import ServerSettings, Settings
from bizmodel.datasets.hillstrom import ARMS, hillstrom_api_events, hillstrom_event_log
from bizmodel.flywheel.experiments import analyze_project_experiment
from bizmodel.stats import analyze_units
from bizmodel.store import EventStore
from bizmodel.store.imports import ColumnMap, import_events

METRICS = """[metrics]
visit = { type = "any", event = "visit", within_days = 14 }
conversion = { type = "any", event = "purchase", within_days = 14 }
spend = { type = "sum", event = "purchase" }
"""
MAP = ColumnMap.parse("user_id=customer,ts=time,type=event,value=amount,variant=arm",
                      "experiment=email")  # fmt: skip
KEY = "bench-key-0123456789"


def project(root: Path, name: str, url: str | None) -> tuple[Path, str]:
    path = root / name
    path.mkdir()
    db = url or f"sqlite:///{path}/bizmodel.db"
    (path / "bizmodel.toml").write_text(f'database_url = "{db}"\n{METRICS}')
    store = EventStore.open(db)
    store.create_experiment("email", [{"name": a} for a in ARMS.values()])
    store.close()
    return path, db


def timed_import(db: str, source: Path) -> tuple[float, int, float]:
    store = EventStore.open(db)
    t = time.perf_counter()
    first = import_events(store, source, MAP)
    s1 = time.perf_counter() - t
    t = time.perf_counter()
    again = import_events(store, source, MAP)
    s2 = time.perf_counter() - t
    store.close()
    assert again.inserted == 0 and again.duplicates == first.rows
    return s1, first.inserted, s2


def timed_http(root: Path, db: str, log: pd.DataFrame) -> float:
    from fastapi.testclient import TestClient

    from bizmodel.server import create_app

    settings = Settings.load(
        project_dir=root, env={}, database_url=db, api_keys=(KEY,),
        server=ServerSettings(runtime="torch"),
    )  # fmt: skip
    body = hillstrom_api_events(log)
    with TestClient(create_app(settings)) as client:
        t0 = time.perf_counter()
        for k in range(0, len(body), 1000):
            r = client.post("/v1/events", json={"events": body[k : k + 1000]},
                            headers={"X-API-Key": KEY})  # fmt: skip
            assert r.status_code == 200, r.text
        return time.perf_counter() - t0


def timed_server(root: Path, log: pd.DataFrame) -> float:
    """``bizmodel serve`` in its own process on 127.0.0.1, one httpx client posting in turn."""
    import os
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "BIZMODEL_PROJECT_DIR": str(root), "BIZMODEL_API_KEYS": KEY}
    cmd = [sys.executable, "-m", "bizmodel", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        body = hillstrom_api_events(log)
        with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=60) as client:
            t0 = time.perf_counter()
            for k in range(0, len(body), 1000):
                r = client.post("/v1/events", json={"events": body[k : k + 1000]})
                assert r.status_code == 200, r.text
            return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/hillstrom"))
    ap.add_argument("--postgres", help="also import into a new database on this PostgreSQL URL")
    args = ap.parse_args()
    df = pd.read_csv(args.data / "hillstrom.csv")
    log = hillstrom_event_log(df)
    print(f"hillstrom: {len(df)} customers -> {len(log)} events")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv, parquet = root / "log.csv", root / "log.parquet"
        log.assign(time=[t.isoformat() for t in log["time"]]).to_csv(csv, index=False)
        log.to_parquet(parquet, index=False)
        results = {}
        for name, src in (("csv", csv), ("parquet", parquet)):
            path, db = project(root, f"import_{name}", None)
            s1, n, s2 = timed_import(db, src)
            results[name] = path
            print(f"events import {name:<8} SQLite: {n} rows in {s1:.2f} s = {n / s1:,.0f} "
                  f"rows/s; again (all duplicates) {s2:.2f} s")  # fmt: skip
        if args.postgres:
            with fresh_postgres(args.postgres) as url:
                path, db = project(root, "import_pg", url)
                s1, n, s2 = timed_import(db, parquet)
                print(f"events import parquet  PostgreSQL: {n} rows in {s1:.2f} s = "
                      f"{n / s1:,.0f} rows/s; again {s2:.2f} s")  # fmt: skip
            with fresh_postgres(args.postgres) as url:
                path, db = project(root, "http_pg", url)
                s = timed_http(path, db, log)
                print(f"POST /v1/events (1,000 per request) PostgreSQL: {len(log)} rows in "
                      f"{s:.2f} s = {len(log) / s:,.0f} rows/s")  # fmt: skip
        path, db = project(root, "http", None)
        s = timed_http(path, db, log)
        print(f"POST /v1/events (1,000 per request) SQLite: {len(log)} rows in {s:.2f} s = "
              f"{len(log) / s:,.0f} rows/s")  # fmt: skip
        path, db = project(root, "served", None)
        s = timed_server(path, log)
        print(f"POST /v1/events (1,000 per request) to bizmodel serve, SQLite: {len(log)} rows "
              f"in {s:.2f} s = {len(log) / s:,.0f} rows/s")  # fmt: skip

        flat = df.assign(arm=df["segment"].map(ARMS))
        t = time.perf_counter()
        got = analyze_project_experiment(Settings.load(results["csv"], env={}), "email")
        s = time.perf_counter() - t
        for r in got:
            ref = analyze_units(flat, variant="arm", metric=r.metric, arms=list(ARMS.values()))
            a, b = r.to_dict(), ref.to_dict()
            for k in ("warnings", "data_quality"):
                a.pop(k), b.pop(k)
            check(a, b, r.metric)
        print(
            f"ab-test --project --experiment email: {len(got)} metrics in {s:.2f} s; "
            "equal to ab-test on hillstrom.csv to 1e-9"
        )


@contextmanager
def fresh_postgres(url: str) -> Iterator[str]:
    """A new empty database on the server of ``url``, dropped afterwards."""
    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"bizmodel_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def check(a: object, b: object, path: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            check(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            check(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (a != a and b != b), path
    else:
        assert a == b, path


if __name__ == "__main__":
    main()
