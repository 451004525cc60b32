"""The loop from a real log to a plan, step by step: Hillstrom through ``events import`` and
``POST /v1/events`` into plain projects, then ``ab-test --project --experiment``,
``fit-growth --project``, ``optimize --project`` and ``report --project`` (each a CLI command,
run in process; medians of 3 runs, each on a fresh project for the two loads).

The log is :func:`bizmodel.datasets.hillstrom_event_log` (one exposure per customer over two
weeks, a visit 1 h and a purchase 2 h later), as in ``benchmarks/events_import.py``; the
project (:data:`bizmodel.datasets.hillstrom.PROJECT_TOML`) declares the three metrics,
``[experiments.email]`` whose arms set ``mens_email``/``womens_email`` to 0/1 with goal
``visit``, and a spec planning the e-mails with ``[growth] from_experiment = "email"``. The
store's ``ab-test`` and ``fit-growth`` are asserted equal to the flat file's to 1e-9.

Run:  PYTHONPATH=src nice -n 10 python benchmarks/store_to_plan.py [--data DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from events_import import KEY, check

from bizmodel.cli import run
from bizmodel.config import ServerSettings, Settings
from bizmodel.datasets.hillstrom import (
    ARMS,
    LEVERS,
    PROJECT_TOML,
    hillstrom_api_events,
    hillstrom_event_log,
)
from bizmodel.flywheel.experiments import analyze_project_experiment
from bizmodel.growth import fit_from_experiments
from bizmodel.stats import analyze_units
from bizmodel.store import EventStore

MAP = "user_id=customer,ts=time,type=event,value=amount,variant=arm"


def cli(*args: str) -> str:
    """One ``bizmodel`` command in process; its stdout (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    assert code == 0, (args, err.getvalue())
    return out.getvalue()


def project(root: Path, name: str) -> Path:
    pdir = root / name
    cli("init", str(pdir))
    (pdir / "bizmodel.toml").write_text(PROJECT_TOML)
    store = EventStore.open(Settings.load(pdir, env={}).resolved_database_url())
    store.create_experiment("email", [{"name": a} for a in ARMS.values()])
    store.close()
    return pdir


def post_events(pdir: Path, log: pd.DataFrame) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.server import create_app

    settings = Settings.load(pdir, env={}, api_keys=(KEY,), server=ServerSettings(runtime="torch"))
    body = hillstrom_api_events(log)
    with TestClient(create_app(settings)) as client:
        for k in range(0, len(body), 1000):
            r = client.post(
                "/v1/events", json={"events": body[k : k + 1000]}, headers={"X-API-Key": KEY}
            )
            assert r.status_code == 200, r.text


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/hillstrom"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    df = pd.read_csv(args.data / "hillstrom.csv")
    log = hillstrom_event_log(df)
    print(f"hillstrom: {len(df)} customers -> {len(log)} events; medians of {args.runs} runs")
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = root / "log.csv"
        log.assign(time=[t.isoformat() for t in log["time"]]).to_csv(csv, index=False)
        for i in range(args.runs):
            pdir = project(root, f"imported{i}")
            p = str(pdir)
            steps: dict[str, Callable[[], object]] = {
                "events import (CSV)": lambda p=p: cli(
                    "events",
                    "import",
                    str(csv),
                    "--project",
                    p,
                    "--map",
                    MAP,
                    "--set",
                    "experiment=email",
                ),
                "ab-test --project --experiment (3 metrics)": lambda p=p: cli(
                    "ab-test",
                    "--project",
                    p,
                    "--experiment",
                    "email",
                    "--metric",
                    "visit,conversion,spend",
                ),
                "fit-growth --project --experiment --metric visit": lambda p=p: cli(
                    "fit-growth", "--project", p, "--experiment", "email", "--metric", "visit"
                ),
                "optimize --project": lambda p=p: cli("optimize", "--project", p),
                "report --project": lambda p=p: cli(
                    "report", "--project", p, "-o", str(Path(p) / "report.html")
                ),
            }
            for name, fn in steps.items():
                times.setdefault(name, []).append(timed(fn))
            served = project(root, f"served{i}")
            times.setdefault("POST /v1/events (in process, 1,000 a request)", []).append(
                timed(lambda s=served: post_events(s, log))
            )
        check_numbers(root / "imported0", df)
        check_numbers(root / "served0", df)
    width = max(map(len, times))
    for name, ts in times.items():
        rate = ""
        if "import" in name or "POST" in name:
            rate = f"  ({len(log) / statistics.median(ts):,.0f} rows/s)"
        runs = ", ".join(f"{t:.2f}" for t in ts)
        print(f"{name:<{width}}  median {statistics.median(ts):6.2f} s  [{runs}]{rate}")


def check_numbers(pdir: Path, df: pd.DataFrame) -> None:
    """The store's ab-test and fit-growth equal the flat file's to 1e-9."""
    flat = df.assign(arm=df["segment"].map(ARMS))
    settings = Settings.load(pdir, env={})
    for r in analyze_project_experiment(settings, "email", ["visit", "conversion", "spend"]):
        ref = analyze_units(flat, variant="arm", metric=r.metric, arms=list(ARMS.values()))
        a, b = r.to_dict(), ref.to_dict()
        for k in ("warnings", "data_quality", "role"):
            a.pop(k, None), b.pop(k, None)
        check(a, b, f"{pdir.name} {r.metric}")
    args = ("--project", str(pdir), "--experiment", "email", "--metric", "visit", "--json")
    stored = json.loads(cli("fit-growth", *args))
    stored.pop("experiment")
    fit = fit_from_experiments(flat, "arm", "visit", LEVERS).to_dict()
    check(stored, fit, f"{pdir.name} fit")
    print(f"{pdir.name}: ab-test and fit-growth from the store equal the flat file's to 1e-9")


if __name__ == "__main__":
    main()
