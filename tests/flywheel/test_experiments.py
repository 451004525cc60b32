"""``ab-test --project --experiment``: results from the store equal ``ab-test FILE`` on the
equivalent flat per-user table (the oracle is computed here with pandas, independently)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bizmodel.cli import run
from bizmodel.config import Settings
from bizmodel.errors import DataError
from bizmodel.store import EventStore
from bizmodel.store.schema import assignments

ARMS = ["control", "mens", "womens"]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
METRICS = """
[metrics]
conversion = { type = "any", event = "purchase", within_days = 14 }
revenue_usd = { type = "sum", event = "purchase" }
visits = { type = "count", event = "visit", within_days = 7 }
"""


def _log(n_users: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hillstrom-like log: exposures (user, arm, ts) and events (user, type, value, ts)."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n_users)],
            "arm": np.array(ARMS)[rng.integers(0, 3, n_users)],
            "ts": [T0 + timedelta(hours=float(h)) for h in rng.uniform(0, 14 * 24, n_users)],
        }
    )
    p_buy = users["arm"].map({"control": 0.05, "mens": 0.09, "womens": 0.07}).to_numpy()
    rows: list[tuple[Any, ...]] = []
    for (uid, t), buys, n_visits in zip(
        users[["user_id", "ts"]].itertuples(index=False),
        rng.random(n_users) < p_buy,
        rng.poisson(1.5, n_users),
        strict=True,
    ):
        for _ in range(int(n_visits)):  # some after the 7-day window
            rows.append((uid, "visit", None, t + timedelta(hours=float(rng.uniform(0, 240)))))
        if rng.random() < 0.1:  # before exposure: never counted
            rows.append((uid, "visit", None, t - timedelta(days=1)))
        if buys:  # a purchase within 20 days (conversion counts 14), sometimes without a value
            value = None if rng.random() < 0.05 else float(np.round(rng.lognormal(4, 1), 2))
            rows.append((uid, "purchase", value, t + timedelta(hours=float(rng.uniform(1, 480)))))
            if rng.random() < 0.2:
                rows.append((uid, "purchase", 10.0, t + timedelta(days=2)))
    events = pd.DataFrame(rows, columns=["user_id", "type", "value", "ts"])
    return users, events


def _flat(users: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The oracle: one row per user and metric, computed with pandas from the same log."""
    ev = events.merge(users[["user_id", "ts"]], on="user_id", suffixes=("", "_exposed"))
    age = ev["ts"] - ev["ts_exposed"]
    after = age >= pd.Timedelta(0)
    buy = ev[(ev["type"] == "purchase") & after]
    conv = buy[age[buy.index] <= pd.Timedelta(days=14)].groupby("user_id").size() > 0
    visits = ev[(ev["type"] == "visit") & after & (age <= pd.Timedelta(days=7))]
    flat = users[["user_id", "arm"]].set_index("user_id")
    flat["conversion"] = conv.reindex(flat.index, fill_value=False).astype(float)
    flat["revenue_usd"] = buy.groupby("user_id")["value"].sum().reindex(flat.index, fill_value=0.0)
    flat["visits"] = visits.groupby("user_id").size().reindex(flat.index, fill_value=0)
    return flat.reset_index()


def _fill(db_url: str, users: pd.DataFrame, events: pd.DataFrame) -> None:
    store = EventStore.open(db_url)
    store.create_experiment("email", [{"name": a} for a in ARMS])
    with store.engine.begin() as conn:  # historical exposures, with their own times
        conn.execute(
            assignments.insert(),
            [
                {"experiment": "email", "user_id": u, "variant": a, "ts": t}
                for u, a, t in users[["user_id", "arm", "ts"]].itertuples(index=False)
            ],
        )
    store.add_events(
        {**{str(k): v for k, v in e.items()}, "client_event_id": f"e{i}"}
        for i, e in enumerate(events.to_dict("records"))
    )
    store.close()


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "shop"
    path.mkdir()
    (path / "bizmodel.toml").write_text(f'database_url = "{db_url}"\n{METRICS}')
    return path


def _numbers(d: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a result dict (warnings and data-quality counts differ by source)."""
    return {k: v for k, v in d.items() if k not in ("warnings", "data_quality")}


def _assert_close(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_store_results_equal_the_flat_file(
    project: Path, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users, events = _log()
    _fill(db_url, users, events)
    flat = _flat(users, events)
    flat_csv = tmp_path / "flat.csv"
    flat.to_csv(flat_csv, index=False)
    args = ["--project", str(project), "--experiment", "email", "--json"]
    assert run(["ab-test", *args]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert [r["metric"] for r in from_store] == ["conversion", "revenue_usd", "visits"]
    for res in from_store:
        m = res["metric"]
        file_args = ["--variant", "arm", "--metric", m, "--user", "user_id", "--json"]
        assert run(["ab-test", str(flat_csv), *file_args, "--arms", ",".join(ARMS)]) == 0
        from_file = json.loads(capsys.readouterr().out)
        _assert_close(_numbers(res), _numbers(from_file), m)
        assert res["data_quality"]["users_used"] == len(users)
    conv, revenue, visits = from_store
    assert conv["metric_type"] == "proportion" and revenue["metric_type"] == "mean"
    m = events.merge(users, on="user_id", suffixes=("", "_exposed"))
    n_before = int(((m["type"] == "visit") & (m["ts"] < m["ts_exposed"])).sum())
    assert visits["data_quality"]["events_before_exposure"] == n_before > 0
    assert any("have no value; counted as 0" in w for w in revenue["warnings"])
    # one metric: exactly the file command's output shape
    assert run(["ab-test", *args[:-1], "--metric", "conversion"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A/B test of 'conversion' (proportion), engine frequentist")
    assert "SRM check" in out


def test_users_in_several_arms_are_dropped_and_counted(project: Path, db_url: str) -> None:
    from bizmodel.config import Settings
    from bizmodel.flywheel.experiments import analyze_project_experiment

    users, events = _log(600, seed=1)
    _fill(db_url, users, events)
    store = EventStore.open(db_url)
    # a model experiment's predictions are exposures too: two users served another arm
    store.log_predictions(
        [
            {
                "model_name": "m",
                "model_version": 1,
                "inputs": {"text": "x"},
                "output": 0.0,
                "latency_ms": 1.0,
                "user_id": u,
                "experiment": "email",
                "variant": "womens" if arm != "womens" else "mens",
                "ts": T0,
            }
            for u, arm in users[["user_id", "arm"]].head(2).itertuples(index=False)
        ]
    )
    store.close()
    [r] = analyze_project_experiment(Settings.load(project), "email", ["conversion"])
    assert r.data_quality["users_in_several_arms"] == 2
    assert r.data_quality["users_used"] == len(users) - 2
    assert "dropped 2 users exposed to more than one arm, e.g. ['u0', 'u1']" in r.warnings
    flat = _flat(users, events).iloc[2:]
    from bizmodel.stats import analyze_units

    ref = analyze_units(flat, variant="arm", metric="conversion", arms=ARMS)
    _assert_close(_numbers(r.to_dict()), _numbers(ref.to_dict()))


def test_units_table_equals_the_pandas_oracle(project: Path, db_url: str) -> None:
    from bizmodel.flywheel.experiments import project_experiment_units

    users, events = _log(400, seed=2)
    _fill(db_url, users, events)
    units = project_experiment_units(Settings.load(project), "email")
    want = _flat(users, events).sort_values("user_id", ignore_index=True)
    assert list(units.columns) == ["user_id", "variant", "conversion", "revenue_usd", "visits"]
    assert units["user_id"].tolist() == want["user_id"].tolist()
    assert units["variant"].tolist() == want["arm"].tolist()
    for m in ("conversion", "revenue_usd", "visits"):
        np.testing.assert_allclose(units[m], want[m].astype(float), rtol=1e-12, atol=1e-12)
    only = project_experiment_units(Settings.load(project), "email", ["visits"])
    assert list(only.columns) == ["user_id", "variant", "visits"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "nope"], "metric 'nope' is not declared in [metrics]; declared: ["),
        (
            ["--experiment", "x"],
            "no experiment named 'x'; defined: ['email'] (POST /v1/experiments, or declare "
            "[experiments.x] in bizmodel.toml)",
        ),
        (["--user", "u"], "--user is for a DATA file, not for --experiment"),
        (["--control", "zz"], "control 'zz' is not a variant of experiment 'email'"),
    ],
)
def test_errors_are_one_line(
    project: Path, db_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    users, events = _log(60)
    _fill(db_url, users, events)
    base = ["ab-test", "--project", str(project), "--experiment", "email"]
    assert run([*base, *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("Error: ") and err.count("\n") == 1


def test_unknown_event_type_and_no_exposures(project: Path, db_url: str) -> None:
    from bizmodel.config import Settings
    from bizmodel.flywheel.experiments import analyze_project_experiment

    store = EventStore.open(db_url)
    store.create_experiment("email", [{"name": a} for a in ARMS])
    store.add_events([{"user_id": "u", "type": "visit"}])
    store.close()
    settings = Settings.load(project)
    with pytest.raises(
        DataError,
        match=r"metric 'conversion': no events of type 'purchase' in the store; "
        r"types stored: \['visit'\]",
    ):
        analyze_project_experiment(settings, "email")
    with pytest.raises(DataError, match="experiment 'email' has no exposures yet"):
        analyze_project_experiment(settings, "email", ["visits"])


def test_no_metrics_declared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bizmodel.toml").write_text("")
    assert run(["ab-test", "--project", str(tmp_path), "--experiment", "e"]) == 1
    assert "no metrics declared: add a [metrics] section" in capsys.readouterr().err


@pytest.mark.slow  # ~1,000 committed exposures, one fsync each
def test_end_to_end_http_and_store_api_into_a_plain_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hillstrom-like log written half through the HTTP API, half through the store API,
    into a project made by ``bizmodel init``; the store's results equal the flat file's."""
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings, init_project
    from bizmodel.server import create_app
    from bizmodel.store import assign_variant

    key = "e2e-key-0123456789abcdef"
    project = tmp_path / "shop"
    init_project(project)
    (project / "bizmodel.toml").write_text(
        (project / "bizmodel.toml").read_text()
        + 'visits = { type = "count", event = "visit", within_days = 7 }\n'
    )
    users, events = _log(1000, seed=3)
    over_http = set(users["user_id"][::2])
    settings = Settings.load(project, env={}, api_keys=(key,))
    with TestClient(create_app(settings)) as client:
        h = {"X-API-Key": key}
        body = {"name": "email", "variants": [{"name": a} for a in ARMS]}
        assert client.post("/v1/experiments", json=body, headers=h).status_code == 201
        salt = client.get("/v1/experiments/email", headers=h).json()["salt"]
        for u in sorted(over_http):
            r = client.get("/v1/assign", params={"experiment": "email", "user_id": u}, headers=h)
            assert r.status_code == 200
        store = EventStore.open(settings.resolved_database_url())
        exp = store.get_experiment("email")
        for u in users["user_id"]:
            if u not in over_http:
                store.record_assignment("email", u, assign_variant(salt, u, exp["variants"]))
        # the exposures as stored: each user's arm and first exposure time
        exposed = pd.DataFrame(store.assignments("email"))[["user_id", "variant", "ts"]]
        exposed = exposed.rename(columns={"variant": "arm"})
        # each user's events keep their delay after exposure, from the real exposure time
        delay = events["ts"] - events["user_id"].map(users.set_index("user_id")["ts"])
        events = events.assign(ts=events["user_id"].map(exposed.set_index("user_id")["ts"]) + delay)
        rows = [
            {
                "user_id": e["user_id"],
                "type": e["type"],
                "value": None if pd.isna(e["value"]) else e["value"],
                "ts": e["ts"].isoformat(),
                "client_event_id": f"e{i}",
            }
            for i, e in enumerate(events.to_dict("records"))
        ]
        http_rows = [r for r in rows if r["user_id"] in over_http]
        for i in range(0, len(http_rows), 1000):
            r = client.post("/v1/events", json={"events": http_rows[i : i + 1000]}, headers=h)
            assert r.status_code == 200 and r.json()["duplicates"] == 0
        store.add_events(r for r in rows if r["user_id"] not in over_http)
        assert store.count("events") == len(events)
        store.close()
    flat_csv = tmp_path / "flat.csv"
    _flat(exposed, events).to_csv(flat_csv, index=False)
    assert run(["ab-test", "--project", str(project), "--experiment", "email", "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert [r["metric"] for r in from_store] == ["conversion", "revenue_usd", "visits"]
    for res in from_store:
        m = res["metric"]
        assert [a["n"] for a in res["arms"]] == [int((exposed["arm"] == a).sum()) for a in ARMS]
        args = ["--variant", "arm", "--metric", m, "--arms", ",".join(ARMS), "--json"]
        assert run(["ab-test", str(flat_csv), *args]) == 0
        _assert_close(_numbers(res), _numbers(json.loads(capsys.readouterr().out)), m)


@pytest.mark.slow
def test_hillstrom_from_the_store_equals_the_published_file(
    shared_data: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real log (64,000 customers, 3 arms) replayed as exposures and events over two weeks;
    the store's results equal ``ab-test hillstrom.csv`` to 1e-9."""
    import os

    path = os.path.join(shared_data, "hillstrom", "hillstrom.csv")
    if not os.path.exists(path):
        pytest.skip("hillstrom.csv not present")
    df = pd.read_csv(path)
    names = {"No E-Mail": "control", "Mens E-Mail": "mens", "Womens E-Mail": "womens"}
    project = tmp_path / "hillstrom"
    project.mkdir()
    (project / "bizmodel.toml").write_text(
        "[metrics]\n"
        'visit = { type = "any", event = "visit", within_days = 14 }\n'
        'conversion = { type = "any", event = "purchase", within_days = 14 }\n'
        'spend = { type = "sum", event = "purchase" }\n'
    )
    store = EventStore.open(Settings.load(project, env={}).resolved_database_url())
    store.create_experiment("email", [{"name": n} for n in names.values()])
    exposed = [T0 + timedelta(days=14 * i / len(df)) for i in range(len(df))]
    with store.engine.begin() as conn:
        conn.execute(
            assignments.insert(),
            [
                {"experiment": "email", "user_id": f"c{i}", "variant": names[s], "ts": t}
                for i, (s, t) in enumerate(zip(df["segment"], exposed, strict=True))
            ],
        )
    rows = []
    for i, (visit, conv, spend) in enumerate(df[["visit", "conversion", "spend"]].to_numpy()):
        if visit:
            rows.append(
                {"user_id": f"c{i}", "type": "visit", "ts": exposed[i] + timedelta(hours=1)}
            )
        if conv:
            t = exposed[i] + timedelta(hours=2)
            rows.append({"user_id": f"c{i}", "type": "purchase", "value": spend, "ts": t})
    store.add_events(rows)
    store.close()
    assert run(["ab-test", "--project", str(project), "--experiment", "email", "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    arms = ",".join(names)
    for res in from_store:
        args = ["--variant", "segment", "--metric", res["metric"], "--arms", arms, "--json"]
        assert run(["ab-test", path, *args]) == 0
        text = capsys.readouterr().out
        for published, ours in names.items():
            text = text.replace(f'"{published}"', f'"{ours}"')
        _assert_close(_numbers(res), _numbers(json.loads(text)), res["metric"])
    assert [a["n"] for a in from_store[0]["arms"]] == [21306, 21307, 21387]
