"""How long each web-app page, ``monitor --project`` and a dashboard refresh take on a store
of ~1M events (``bizmodel dashboard``).

The store is :mod:`ab_test_store`'s (``--users`` exposed users in 3 arms, ~10 events each,
built once per folder and reused); each page is requested ``--repeats`` times through
FastAPI's test client after one warm-up request that pays for the imports (and, on a store
that has not been read since its events were written, for folding them into the KPI rollups:
that one-time cost is printed first). ``monitor --project`` is
:func:`bizmodel.report.project.project_monitor` in process (what the command runs after
parsing its options); the dashboard refresh is ``GET /live/api/sections``, the live report's
poll. ``--no-rollups`` times the event-frame path instead (the numbers before the rollups);
``--no-cache`` keeps no store-derived section input between requests
(:mod:`bizmodel.store.cache`), i.e. every refresh analyses the experiments again, as one after
a new event or exposure does.

Run:  PYTHONPATH=src:benchmarks nice -n 10 python benchmarks/webapp_pages.py [--users 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ab_test_store import build
from fastapi.testclient import TestClient

import bizmodel.store.rollups as rollups
from bizmodel.config import Settings
from bizmodel.report.project import project_monitor
from bizmodel.store import EventStore
from bizmodel.store.cache import process_cache
from bizmodel.webapp import create_app

PAGES = (
    "/?days=7",
    "/?days=30",
    "/monitoring?days=7",
    "/experiments",
    "/experiments/exp",
    "/models",
    "/live/api/sections",
)


def _time(call: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _line(name: str, times: list[float], status: object = "") -> None:
    print(f"{name:<24} {status!s:>3}  median {statistics.median(times):6.2f} s  "
          f"min {min(times):6.2f} s  max {max(times):6.2f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bizmodel-ab-store"))
    parser.add_argument("--no-rollups", action="store_true", help="time the event-frame path")
    parser.add_argument("--no-cache", action="store_true", help="recompute sections each time")
    args = parser.parse_args()
    project = args.folder / f"u{args.users}"
    n_events = build(project, args.users)
    settings = Settings.load(project, env={})
    if args.no_rollups:  # every caller asks these two whether the rollups can answer
        rollups.answers = lambda *a, **k: False  # type: ignore[assignment]
        rollups.is_midnight = lambda *a, **k: False  # type: ignore[assignment]
    else:
        store = EventStore.open(settings.resolved_database_url())
        start = time.perf_counter()
        folded = rollups.refresh(store)
        print(f"rollups: folded in {folded:,} new events in {time.perf_counter() - start:.2f} s")
        store.close()
    if args.no_cache:
        process_cache().maxsize = 0  # every value is dropped as soon as it is computed
    client = TestClient(create_app(settings))
    client.get("/models")  # imports
    print(f"{n_events:,} events, {args.users:,} exposed users")
    for page in PAGES:
        status = client.get(page).status_code  # warm-up (first use of the page's modules)
        _line(page, _time(lambda p=page: client.get(p), args.repeats), status)  # type: ignore[misc]
    _line("monitor --project", _time(lambda: project_monitor(settings), args.repeats))


if __name__ == "__main__":
    main()
