"""``bizmodel events import``: CSV, Parquet and SQL sources, mapping, idempotence, row errors,
time zones, and the A/B numbers of an imported log equal those of the flat per-user file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from bizmodel.cli import run
from bizmodel.store import EventStore
from bizmodel.store.schema import event_days, events, rollup_state

ARMS = ["control", "mens", "womens"]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
MAP = "user_id=customer,ts=time,type=event,value=spend,variant=segment"
METRICS = """
[metrics]
conversion = { type = "any", event = "purchase", within_days = 14 }
revenue_usd = { type = "sum", event = "purchase" }
visits = { type = "count", event = "visit", within_days = 7 }
"""


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("BIZMODEL_DATABASE_URL", "BIZMODEL_REGISTRY_DIR", "BIZMODEL_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "shop"
    path.mkdir()
    (path / "bizmodel.toml").write_text(f'database_url = "{db_url}"\n{METRICS}')
    store = EventStore.open(db_url)
    store.create_experiment("email", [{"name": a} for a in ARMS])
    store.close()
    return path


def _store(project: Path) -> EventStore:
    from bizmodel.config import Settings

    return EventStore.open(Settings.load(project, env={}).resolved_database_url())


def _log(n_users: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hillstrom-like log in a product's own column names: one exposure row per customer
    (with its segment), visits and purchases (some before exposure, some late, some without
    a value, some identical twice); and the users (customer, arm, exposure time)."""
    rng = np.random.default_rng(seed)
    n = n_users
    users = pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(n)],
            "arm": np.array(ARMS)[rng.integers(0, 3, n)],
            "ts": [T0 + timedelta(hours=float(h)) for h in rng.uniform(0, 14 * 24, n)],
        }
    )
    p_buy = users["arm"].map({"control": 0.05, "mens": 0.09, "womens": 0.07}).to_numpy()
    rows: list[tuple[Any, ...]] = []
    for (uid, arm, t), buys, n_visits in zip(
        users.itertuples(index=False), rng.random(n) < p_buy, rng.poisson(1.5, n), strict=True
    ):
        rows.append((uid, t, "exposure", None, arm))
        for _ in range(int(n_visits)):
            rows.append((uid, t + timedelta(hours=float(rng.uniform(0, 240))), "visit", None, None))
        if rng.random() < 0.1:
            rows.append((uid, t - timedelta(days=1), "visit", None, None))
        if buys:
            value = None if rng.random() < 0.05 else float(np.round(rng.lognormal(4, 1), 2))
            at = t + timedelta(hours=float(rng.uniform(1, 480)))
            rows.append((uid, at, "purchase", value, None))
            if rng.random() < 0.2:  # the same purchase twice: two events
                rows += [(uid, t + timedelta(days=2), "purchase", 10.0, None)] * 2
    log = pd.DataFrame(rows, columns=["customer", "time", "event", "spend", "segment"])
    return users, log.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _flat(users: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """The oracle: one row per user and metric, with pandas, from the same log."""
    ev = log.merge(users[["customer", "ts"]], on="customer")
    age = ev["time"] - ev["ts"]
    after = age >= pd.Timedelta(0)
    buy = ev[(ev["event"] == "purchase") & after]
    conv = buy[age[buy.index] <= pd.Timedelta(days=14)].groupby("customer").size() > 0
    visits = ev[(ev["event"] == "visit") & after & (age <= pd.Timedelta(days=7))]
    flat = users[["customer", "arm"]].rename(columns={"customer": "user_id"}).set_index("user_id")
    flat["conversion"] = conv.reindex(flat.index, fill_value=False).astype(float)
    spend = buy.groupby("customer")["spend"].sum()
    flat["revenue_usd"] = spend.reindex(flat.index, fill_value=0.0)
    flat["visits"] = visits.groupby("customer").size().reindex(flat.index, fill_value=0)
    return flat.reset_index()


def _write(log: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        out = log.copy()
        out["time"] = [t.isoformat() for t in out["time"]]
        out.to_csv(path, index=False)
    else:
        log.to_parquet(path, index=False)
    return path


def _close(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_imported_log_gives_the_flat_files_ab_numbers(
    project: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    users, log = _log()
    src = _write(log, tmp_path / f"log{suffix}")
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--project", str(project), "--batch-rows", "997", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first.pop("fold_s") >= 0
    assert first == {
        "source": src.name,
        "rows": len(log),
        "inserted": len(log),
        "duplicates": 0,
        "folded": len(log),
    }
    assert run([*args, "--project", str(project), "--json"]) == 0  # again: nothing new
    again = json.loads(capsys.readouterr().out)
    assert (again["inserted"], again["duplicates"], again["folded"]) == (0, len(log), 0)
    store = _store(project)
    assert store.count("events") == len(log)
    assert store.count("assignments") == len(users)
    store.close()

    flat = tmp_path / "flat.csv"
    _flat(users, log).to_csv(flat, index=False)
    assert run(["ab-test", "--project", str(project), "--experiment", "email", "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert [r["metric"] for r in from_store] == ["conversion", "revenue_usd", "visits"]
    for res in from_store:
        m = res["metric"]
        opts = ["--variant", "arm", "--metric", m, "--user", "user_id", "--arms", ",".join(ARMS)]
        assert run(["ab-test", str(flat), *opts, "--json"]) == 0
        from_file = json.loads(capsys.readouterr().out)
        drop = ("warnings", "data_quality")
        _close(
            {k: v for k, v in res.items() if k not in drop},
            {k: v for k, v in from_file.items() if k not in drop},
            m,
        )
        assert res["data_quality"]["users_used"] == len(users)


def _small(tmp_path: Path, times: list[str], name: str = "small.csv") -> Path:
    path = tmp_path / name
    rows = [f"c{i},{t},visit,{i}.5,mens" for i, t in enumerate(times)]
    path.write_text("customer,time,event,spend,segment\n" + "\n".join(rows) + "\n")
    return path


def test_a_bad_row_is_a_one_line_error_and_its_batch_is_not_stored(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times = [f"2025-03-0{1 + i // 3}T10:0{i % 3}:00Z" for i in range(8)]
    times[6] = "2025-03-03T10:00:00"  # no zone: data row 7, in the second batch of 4
    src = _small(tmp_path, times)
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--project", str(project), "--batch-rows", "4"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "Error: small.csv: row 7, column 'time' (ts): has no time zone; give a time zone in "
        "the data or --timezone (e.g. UTC, Europe/Paris); got '2025-03-03T10:00:00'\n"
    )
    store = _store(project)
    assert [e["user_id"] for e in store.events()] == ["c0", "c1", "c2", "c3"]  # batch 1 only
    store.close()
    times[6] = "2025-03-03T10:00:00Z"  # fixed: the re-import adds the rest
    _small(tmp_path, times)
    assert run([*args, "--project", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == 4


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("spend=abc", "row 2, column 'spend' (value): is not a number; got 'abc'"),
        ("segment=kids", "row 2, column 'segment' (variant): not an arm of 'email' ("),
        ("event=bad type", "row 2, column 'event' (type): does not match"),
        ("customer=", "row 2, column 'customer' (user_id): is empty; got ''"),
        ("time=yesterday", "row 2, column 'time' (ts): has no time zone;"),
        ("time=2025-13-01T00:00:00Z", "row 2, column 'time' (ts): is not an ISO 8601 timestamp"),
    ],
)
def test_every_bad_field_names_file_row_and_column(
    project: Path, tmp_path: Path, cell: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _small(tmp_path, ["2025-03-01T10:00:00Z"] * 3)
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    col, value = cell.split("=")
    frame.loc[1, col] = value
    frame.to_csv(src, index=False)
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: small.csv: {message}") and err.count("\n") == 1
    store = _store(project)
    assert store.count("events") == 0
    store.close()


def test_naive_times_need_a_timezone(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _small(tmp_path, ["2025-07-01T10:00:00", "2025-01-15 08:30:00", "2025-07-01T10:00+02:00"])
    args = ["events", "import", str(src), "--map", MAP, "--project", str(project)]
    assert run([*args, "--set", "experiment=email", "--timezone", "Europe/Paris"]) == 0
    capsys.readouterr()
    store = _store(project)
    got = [e["ts"].isoformat() for e in store.events()]
    assert got == [  # Paris is UTC+2 in summer, UTC+1 in winter; a written zone wins
        "2025-07-01T08:00:00+00:00",
        "2025-01-15T07:30:00+00:00",
        "2025-07-01T08:00:00+00:00",
    ]
    store.close()
    assert run([*args, "--timezone", "Mars/Olympus"]) == 1
    assert "--timezone 'Mars/Olympus' is not a time zone" in capsys.readouterr().err


def test_parquet_timestamps_without_a_zone_need_a_timezone(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.DataFrame(
        {"user_id": ["u1", "u2"], "type": ["visit"] * 2, "ts": pd.to_datetime(["2025-01-01"] * 2)}
    )
    frame.to_parquet(tmp_path / "naive.parquet")
    args = ["events", "import", str(tmp_path / "naive.parquet"), "--project", str(project)]
    assert run(args) == 1
    assert "naive.parquet: row 1, column 'ts' (ts): has no time zone" in capsys.readouterr().err
    assert run([*args, "--timezone", "UTC", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == 2


def test_a_sql_query_is_a_source(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/warehouse.db"
    engine = sa.create_engine(url)
    _, log = _log(50, seed=3)
    log["time"] = [t.isoformat() for t in log["time"]]
    log.to_sql("activity", engine, index=False)
    engine.dispose()
    sql = "SELECT customer, time, event, spend, segment FROM activity"
    args = ["events", "import", "--sql", sql, "--url", url, "--map", MAP]
    args += ["--set", "experiment=email", "--project", str(project)]
    assert run([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == len(log)
    assert run(args) == 0  # idempotent
    n = len(log)
    assert capsys.readouterr().out == f"{n} rows read: 0 events stored, {n} already stored\n"
    bad = ["events", "import", "--sql", "SELECT nope", "--url", url, "--project", str(project)]
    assert run(bad) == 1
    assert capsys.readouterr().err == "Error: the query failed: no such column: nope\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a FILE or --sql (with --url), not both"),
        (["x.csv", "--sql", "SELECT 1"], "give a FILE or --sql (with --url), not both"),
        (["--sql", "SELECT 1"], "--sql and --url go together"),
        (["x.txt"], "no file 'x.txt'"),
        (["SRC", "--map", "who=customer"], "--map: unknown event field 'who'; fields: user_id"),
        (["SRC", "--map", "user_id=nope"], "mapped column(s) not in the source: user_id -> 'nope'"),
        (["SRC", "--map", "ts"], "--map: 'ts' is not FIELD=VALUE"),
    ],
)
def test_usage_errors(
    project: Path, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _small(tmp_path, ["2025-03-01T10:00:00Z"])
    args = [str(src) if a == "SRC" else a for a in args]
    assert run(["events", "import", *args, "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


def test_a_local_time_skipped_by_a_clock_change_is_an_error(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _small(tmp_path, ["2025-03-30T01:30:00", "2025-03-30T02:30:00"])  # Paris: 2:00 -> 3:00
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--timezone", "Europe/Paris", "--project", str(project)]) == 1
    assert capsys.readouterr().err.startswith(
        "Error: small.csv: row 2, column 'time' (ts): does not exist or is ambiguous in "
        "Europe/Paris (a clock change); got '2025-03-30T02:30:00'"
    )


def test_an_export_imports_back_into_another_project(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, log = _log(40, seed=5)
    src = _write(log, tmp_path / "log.csv")
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--project", str(project)]) == 0
    assert run(["events", "export", str(tmp_path / "out.csv"), "--project", str(project)]) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "bizmodel.toml").write_text(f'database_url = "sqlite:///{other}/b.db"\n')
    capsys.readouterr()
    assert run(["events", "import", str(tmp_path / "out.csv"), "--project", str(other)]) == 0
    assert capsys.readouterr().out.startswith(f"{len(log)} rows read: {len(log)} events stored")
    a, b = _store(project), _store(other)
    key = ("client_event_id", "ts", "user_id", "type", "value", "experiment", "variant")

    def rows(s: EventStore) -> list[tuple[Any, ...]]:
        return sorted(tuple(e[k] for k in key) for e in s.events())

    assert rows(a) == rows(b) and b.count("assignments") == a.count("assignments") == 40
    a.close()
    b.close()


def test_an_import_leaves_the_rollups_up_to_date(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, log = _log(300, seed=5)
    src = _write(log, tmp_path / "log.csv")
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email"]
    assert run([*args, "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(log)} rows read: {len(log)} events stored, 0 already stored; ")
    assert f"KPI rollups updated with {len(log)} events in " in out
    store = _store(project)
    with store.engine.connect() as conn:  # read as they are: no read has folded anything yet
        last = conn.execute(sa.select(rollup_state.c.last_event_id)).scalar()
        top = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
        rows = conn.execute(sa.select(event_days.c.day, event_days.c.type, event_days.c.n,
                                      event_days.c.value_sum)).all()  # fmt: skip
    store.close()
    assert last == top
    # the oracle: the log's events per UTC day and type, with pandas
    day = (pd.to_datetime(log["time"], utc=True) - pd.Timestamp(0, tz="UTC")).dt.days
    expected = (
        log.assign(day=day, spend=log["spend"].fillna(0.0))
        .groupby(["day", "event"])
        .agg(n=("spend", "size"), value_sum=("spend", "sum"))
    )
    got = pd.DataFrame(rows, columns=["day", "event", "n", "value_sum"]).set_index(["day", "event"])
    got = got.astype(float).sort_index()
    pd.testing.assert_frame_equal(got, expected.astype(float).sort_index(), rtol=1e-12)


def test_events_sent_to_a_running_server_are_the_same_events(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], serve_app: Any
) -> None:
    """``--to URL``: the same rows, ids and exposures as a local import, through the HTTP
    API; a second send stores nothing; a row the server refuses names its row."""
    from bizmodel.config import ServerSettings, Settings
    from bizmodel.server import create_app
    from bizmodel.store.keys import KeyStore

    users, log = _log(300, seed=3)
    src = _write(log, tmp_path / "log.csv")
    args = ["events", "import", str(src), "--map", MAP, "--set", "experiment=email", "--json"]
    local = tmp_path / "local"
    local.mkdir()
    (local / "bizmodel.toml").write_text(f'database_url = "sqlite:///{local}/b.db"\n')
    other = EventStore.open(f"sqlite:///{local}/b.db")
    other.create_experiment("email", [{"name": a} for a in ARMS])
    other.close()
    assert run([*args, "--project", str(local)]) == 0
    capsys.readouterr()
    settings = Settings.load(  # keys needed to read: an ingest key may not list experiments
        project, env={}, api_keys=("operator-key",), server=ServerSettings(read_requires_key=True)
    )
    store = _store(project)
    ingest = KeyStore(store).create(["ingest"], actor="test").key  # may not read experiments
    with serve_app(create_app(settings)) as url:
        for key, expected in (("operator-key", len(log)), (ingest, 0)):
            assert run([*args, "--to", url, "--api-key", key, "--batch-rows", "700"]) == 0
            sent = json.loads(capsys.readouterr().out)
            assert sent == {
                "source": "log.csv",
                "rows": len(log),
                "inserted": expected,
                "duplicates": len(log) - expected,
                "folded": 0,
                "fold_s": 0.0,
            }
        bad = _small(tmp_path, ["2025-03-01T10:00:00Z"] * 3)
        bad.write_text(
            bad.read_text().replace(
                "c2,2025-03-01T10:00:00Z,visit,2.5,mens", "c2,2025-03-01T10:00:00Z,visit,2.5,kids"
            )
        )
        bad_args = ["events", "import", str(bad), "--map", MAP, "--set", "experiment=email"]
        assert run([*bad_args, "--to", url, "--api-key", ingest]) == 1
        err = capsys.readouterr().err
        assert err == (
            "Error: small.csv: row 3: the server refused it: variant 'kids' is not an arm of "
            "experiment 'email'; its arms: control, mens, womens\n"
        )
        assert run([*bad_args, "--to", url]) == 1  # no key
        assert "401 auth_error: missing API key" in capsys.readouterr().err

    def rows(s: EventStore) -> set[tuple[Any, ...]]:
        cols = ("client_event_id", "user_id", "type", "ts", "value", "experiment", "variant")
        return {tuple(e[c] for c in cols) for e in s.events()}

    other = EventStore.open(f"sqlite:///{local}/b.db")
    try:
        assert rows(store) == rows(other) and len(rows(store)) == len(log)
        assert store.count("assignments") == other.count("assignments") == len(users)
    finally:
        other.close()
        store.close()
