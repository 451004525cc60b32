"""How long each web-app page takes on a store of ~1M events (``bizmodel dashboard``).

The store is :mod:`ab_test_store`'s (``--users`` exposed users in 3 arms, ~10 events each,
built once per folder and reused); each page is requested ``--repeats`` times through
FastAPI's test client after one warm-up request that pays for the imports.

Run:  PYTHONPATH=src:benchmarks nice -n 10 python benchmarks/webapp_pages.py [--users 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ab_test_store import build
from fastapi.testclient import TestClient

from bizmodel.config import Settings
from bizmodel.webapp import create_app

PAGES = ("/?days=7", "/?days=30", "/experiments", "/experiments/exp", "/models")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bizmodel-ab-store"))
    args = parser.parse_args()
    project = args.folder / f"u{args.users}"
    n_events = build(project, args.users)
    client = TestClient(create_app(Settings.load(project, env={})))
    client.get("/models")  # imports
    print(f"{n_events:,} events, {args.users:,} exposed users")
    for page in PAGES:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            status = client.get(page).status_code
            times.append(time.perf_counter() - start)
        print(f"{page:<20} {status}  median {statistics.median(times):6.2f} s  "
              f"min {min(times):6.2f} s  max {max(times):6.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
