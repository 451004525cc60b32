"""How long ``ab-test --project DIR --experiment NAME`` takes on a store of ~1M events.

A SQLite project with ``--users`` exposed users in 3 arms (assignments) and ~10 events each
(visits, and purchases with a value for a few percent); the timed call is
:func:`bizmodel.flywheel.experiments.analyze_project_experiment` with two declared metrics
(conversion = any purchase within 14 days, revenue = sum of purchase values), i.e. what the
command runs after parsing its options. The store is built once per folder and reused.

Run:  PYTHONPATH=src nice -n 10 python benchmarks/ab_test_store.py [--users 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bizmodel.config import Settings
from bizmodel.flywheel.experiments import analyze_project_experiment
from bizmodel.store import EventStore
from bizmodel.store.schema import assignments, events

METRICS = """[metrics]
conversion = { type = "any", event = "purchase", within_days = 14 }
revenue_usd = { type = "sum", event = "purchase" }
"""


def build(project: Path, n_users: int, seed: int = 0) -> int:
    """Write the project and its store; return the number of events."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "bizmodel.toml").write_text(METRICS)
    store = EventStore.open(Settings.load(project, env={}).resolved_database_url())
    if store.count("events"):
        n = store.count("events")
        store.close()
        return n
    rng = np.random.default_rng(seed)
    arms = ["control", "b", "c"]
    store.create_experiment("exp", [{"name": a} for a in arms])
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    arm = rng.integers(0, 3, n_users)
    start_h = rng.uniform(0, 14 * 24, n_users)
    with store.engine.begin() as conn:
        conn.execute(
            assignments.insert(),
            [
                {
                    "experiment": "exp",
                    "user_id": f"u{i}",
                    "variant": arms[arm[i]],
                    "ts": t0 + timedelta(hours=float(start_h[i])),
                }
                for i in range(n_users)
            ],
        )
    n_ev = rng.poisson(9.5, n_users)
    buys = rng.random(n_users) < np.array([0.04, 0.05, 0.045])[arm]
    received = datetime.now(UTC)
    rows = []
    for i in range(n_users):
        base = t0 + timedelta(hours=float(start_h[i]))
        for h in rng.uniform(-24, 20 * 24, n_ev[i]):
            rows.append((f"u{i}", "visit", None, base + timedelta(hours=float(h))))
        if buys[i]:
            value = float(rng.lognormal(3, 1))
            rows.append(
                (f"u{i}", "purchase", value, base + timedelta(hours=float(rng.uniform(0, 400))))
            )
    with store.engine.begin() as conn:
        for k in range(0, len(rows), 100_000):
            conn.execute(
                events.insert(),
                [
                    {"user_id": u, "type": t, "value": v, "ts": ts, "received_ts": received}
                    for u, t, v, ts in rows[k : k + 100_000]
                ],
            )
    store.close()
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bizmodel-ab-store"))
    args = ap.parse_args()
    project = args.dir / f"u{args.users}"
    t = time.perf_counter()
    n_events = build(project, args.users)
    print(f"store: {args.users:,} users, {n_events:,} events ({time.perf_counter() - t:.1f} s)")
    settings = Settings.load(project, env={})
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        results = analyze_project_experiment(settings, "exp")
        times.append(time.perf_counter() - t)
    print(f"ab-test --experiment, 2 metrics: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s over {args.repeats}")  # fmt: skip
    for r in results:
        c = r.comparisons[0]
        print(f"  {r.metric}: n {[a.n for a in r.arms]}, {c.arm} lift {c.estimate:+.3f} "
              f"p {c.p_value:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
