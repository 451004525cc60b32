"""``bizmodel serve --backend ray``: the app on a local Ray cluster with 2 replicas.

One local Ray instance (2 CPUs) and one deployment per store (the ingress, and model replicas of
1 CPU and 1 thread with the session's tiny model, 127.0.0.1 only): SQLite, then PostgreSQL
where the suite has one (BIZMODEL_TEST_POSTGRES_URL, as in CI).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from .conftest import served_project_settings

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

KEY = "ray-serve-test-key"
HEADERS = {"X-API-Key": KEY}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fresh_postgres: Any
) -> Iterator[str]:
    """A SQLite file, then a fresh PostgreSQL database (where the suite has one, as in CI)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ray-serve-db')}/bizmodel.db"
        return
    with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database: str, tiny_model_dir: str) -> Any:
    project = tmp_path_factory.mktemp("ray-serve")
    return served_project_settings(project, tiny_model_dir, database, KEY, max_wait_ms=2.0)


@pytest.fixture(scope="module")
def served(settings: Any) -> Iterator[Any]:
    """The deployment: the ingress and 2 fixed model replicas behind Serve's proxy."""
    from ray import serve

    from bizmodel.scale.serve import ReplicaScaling, deploy

    started = not ray.is_initialized()  # test_ray.py's session cluster is reused when it runs
    if started:
        os.environ.setdefault("RAY_worker_niceness", "0")  # as bizmodel.scale's local clusters
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield deploy(settings, ReplicaScaling.fixed(2), host="127.0.0.1", port=_free_port())
    finally:
        serve.shutdown()
        if started:
            ray.shutdown()


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    # A new connection per request, as separate clients would open.
    return httpx.post(url, json=body, headers=HEADERS, timeout=30)


def _event(cid: str, type_: str) -> dict[str, Any]:
    return {"events": [{"user_id": f"u-{cid}", "type": type_, "client_event_id": cid}]}


def test_predictions_equal_the_local_server(served: Any, settings: Any) -> None:
    from fastapi.testclient import TestClient

    from bizmodel.datasets import financial_headlines
    from bizmodel.server.app import create_app

    rows = financial_headlines(8, seed=5)
    body = {"texts": rows["headline"].tolist(), "text_pairs": rows["company"].tolist()}
    remote = _post(f"{served.url}/v1/predict", body)
    assert remote.status_code == 200, remote.text
    single = {"text": body["texts"][3], "text_pair": body["text_pairs"][3]}
    with TestClient(create_app(settings)) as local_client:
        local = local_client.post("/v1/predict", json=body, headers=HEADERS)
        local_one = local_client.post("/v1/predict", json=single, headers=HEADERS)
    assert local.status_code == 200, local.text
    r, loc = remote.json(), local.json()
    assert (r["model_name"], r["model_version"]) == (loc["model_name"], loc["model_version"])
    values = [p["value"] for p in r["predictions"]]
    expected = [p["value"] for p in loc["predictions"]]
    assert len(values) == 8 and np.std(expected) > 0, expected  # distinct inputs and outputs
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-6)
    one = _post(f"{served.url}/v1/predict", single)  # a batch of one, on either replica
    assert one.status_code == 200, one.text
    got, want = one.json()["predictions"][0]["value"], local_one.json()["predictions"][0]["value"]
    assert got == pytest.approx(want, abs=1e-6)


def test_events_through_both_replicas_are_stored_once(served: Any, settings: Any) -> None:
    from bizmodel.scale.serve import REPLICA_HEADER
    from bizmodel.store import EventStore

    replicas = set()
    for i in range(40):
        r = _post(f"{served.url}/v1/events", _event(f"both-{i}", "signup"))
        assert r.status_code == 200 and r.json()["inserted"] == 1, r.text
        replicas.add(r.headers[REPLICA_HEADER])
    assert len(replicas) == 2  # Serve spread the requests over both replicas
    for i in range(10):  # a client retrying through either replica: recognised, not stored
        r = _post(f"{served.url}/v1/events", _event(f"both-{i}", "signup"))
        assert r.json() == {"received": 1, "inserted": 0, "duplicates": 1}
    store = EventStore.open(settings.resolved_database_url())
    try:
        ids = [e["client_event_id"] for e in store.events(type="signup")]
    finally:
        store.close()
    assert sorted(ids) == sorted(f"both-{i}" for i in range(40))


def test_a_killed_replica_costs_no_client_an_error(served: Any, settings: Any) -> None:
    """One model replica is killed while 4 clients post 60 events and one client predicts:
    every request is answered 2xx at its first send (the ingress retries on the other
    replica), and every event is stored exactly once."""
    from bizmodel.scale.serve import APP_NAME, REPLICA_HEADER
    from bizmodel.store import EventStore

    clients, per_client = 4, 15
    acked: list[str] = []
    seen_replicas: set[str] = set()
    failures: list[str] = []
    retried: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()  # set once 10 events are acknowledged: then one replica dies
    stop = threading.Event()
    predictions: list[float] = []
    single = {"text": "Acme beats forecasts", "text_pair": "Acme"}

    def answered(r: httpx.Response, what: str) -> bool:
        with lock:
            if r.status_code != 200:
                failures.append(f"{what}: {r.status_code} {r.text[:300]}")
                return False
            if "x-bizmodel-attempts" in r.headers:
                retried.append(f"{what} x{r.headers['x-bizmodel-attempts']}")
            seen_replicas.add(r.headers[REPLICA_HEADER])
            return True

    def client(c: int) -> None:
        for i in range(per_client):
            cid = f"kill-{c}-{i}"
            try:
                r = _post(f"{served.url}/v1/events", _event(cid, "purchase"))
            except httpx.TransportError as exc:
                failures.append(f"{cid}: {exc!r}")
                continue
            if answered(r, cid):
                with lock:
                    acked.append(cid)
                    if len(acked) >= 10:
                        enough.set()

    def predictor() -> None:
        while not stop.is_set():
            try:
                r = _post(f"{served.url}/v1/predict", single)
            except httpx.TransportError as exc:
                failures.append(f"predict: {exc!r}")
                continue
            if answered(r, "predict"):
                predictions.append(r.json()["predictions"][0]["value"])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    pred = threading.Thread(target=predictor)
    for t in [*threads, pred]:
        t.start()
    assert enough.wait(timeout=60)
    with lock:
        victim = sorted(seen_replicas)[0]
    actor = ray.get_actor(f"SERVE_REPLICA::{APP_NAME}#{APP_NAME}#{victim}", namespace="serve")
    ray.kill(actor, no_restart=True)
    for t in threads:
        t.join(timeout=150)
    stop.set()
    pred.join(timeout=60)
    assert not any(t.is_alive() for t in [*threads, pred])
    assert failures == []  # no 500 from Serve's proxy, no 503, no dropped connection
    expected = sorted(f"kill-{c}-{i}" for c in range(clients) for i in range(per_client))
    assert sorted(acked) == expected
    assert len(predictions) > 0 and np.ptp(predictions) < 1e-6, predictions  # same answer
    print(f"answers that needed a retry: {retried or 'none'}")
    store = EventStore.open(settings.resolved_database_url())
    try:
        ids = [e["client_event_id"] for e in store.events(type="purchase")]
    finally:
        store.close()
    assert sorted(ids) == expected  # every acknowledged event, each exactly once


def test_events_without_an_id_are_stored_once_each(served: Any, settings: Any) -> None:
    """The ingress gives an event without a client_event_id its own (so a retry dedups)."""
    from bizmodel.store import EventStore

    body = {"events": [{"user_id": f"anon-{i}", "type": "anon"} for i in range(5)]}
    r = _post(f"{served.url}/v1/events", body)
    assert (r.status_code, r.json()) == (200, {"received": 5, "inserted": 5, "duplicates": 0})
    r = _post(f"{served.url}/v1/events", body)  # the same events sent again: new ids, stored
    assert r.json()["inserted"] == 5
    store = EventStore.open(settings.resolved_database_url())
    try:
        stored = store.events(type="anon")
    finally:
        store.close()
    ids = [e["client_event_id"] for e in stored]
    assert len(stored) == 10 and len(set(ids)) == 10 and all(len(i) == 32 for i in ids)


def test_errors_keep_the_house_shape_through_the_ingress(served: Any) -> None:
    r = httpx.post(f"{served.url}/v1/predict", json={"text": "a"}, timeout=30)  # no key
    assert r.status_code == 401 and set(r.json()) == {"error", "detail"}
    r = httpx.post(
        f"{served.url}/v1/predict", content=b"x" * 1_100_000, headers=HEADERS, timeout=30
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = httpx.get(f"{served.url}/v1/assign", params={"experiment": "nope", "user_id": "u"},
                  headers=HEADERS, timeout=30)  # fmt: skip
    assert r.status_code == 404 and set(r.json()) == {"error", "detail"}


@contextlib.contextmanager
def _writes_blocked(database_url: str) -> Iterator[None]:
    """Hold a lock that makes every insert into the events table wait until the block ends."""
    if database_url.startswith("sqlite"):
        con = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            con.execute("BEGIN EXCLUSIVE")  # WAL: readers go on, writers wait (busy timeout)
            yield
        finally:
            con.execute("ROLLBACK")
            con.close()
        return
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE events IN EXCLUSIVE MODE"))  # reads go on
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def _model_replicas(deployment: str | None = None) -> dict[str, Any]:
    """The live replicas' actors of ``deployment`` (default: the model's), by replica id."""
    from bizmodel.scale.serve import APP_NAME

    prefix = f"SERVE_REPLICA::{APP_NAME}#{deployment or APP_NAME}#"
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    return {
        n.removeprefix(prefix): ray.get_actor(n, namespace="serve")
        for n in names
        if n.startswith(prefix)
    }


def _ongoing(actors: dict[str, Any]) -> dict[str, int]:
    out = {}
    for rid, actor in actors.items():
        with contextlib.suppress(ray.exceptions.RayActorError):
            out[rid] = ray.get(actor.get_num_ongoing_requests.remote(), timeout=10)
    return out


def _kill_and_wait(actor: Any, deadline: float) -> None:
    ray.kill(actor, no_restart=True)
    while True:
        try:
            ray.get(actor.get_num_ongoing_requests.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            pass
        assert time.monotonic() < deadline, "the killed replica is still alive"
        time.sleep(0.1)


def test_requests_in_flight_on_a_killed_replica_are_answered_by_another(
    served: Any, settings: Any
) -> None:
    """Events wait on a store lock, so they are surely in flight on the replicas; the one
    holding some is killed, the lock released: every request is answered 200 (those of the
    killed replica at their second try), and every event is stored once."""
    from bizmodel.scale.serve import REPLICA_HEADER
    from bizmodel.store import EventStore

    n = 6
    answers: dict[int, httpx.Response | Exception] = {}

    def send(i: int) -> None:
        try:
            answers[i] = _post(f"{served.url}/v1/events", _event(f"inflight-{i}", "refund"))
        except Exception as exc:  # reported by the assertion below
            answers[i] = exc

    with _writes_blocked(settings.resolved_database_url()):
        threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while True:  # until all n requests are in flight on the model replicas
            ongoing = _ongoing(_model_replicas())
            if sum(ongoing.values()) >= n:
                break
            assert time.monotonic() < deadline, f"requests in flight: {ongoing}"
            time.sleep(0.1)
        victim = max(ongoing, key=lambda rid: ongoing[rid])
        # Release the lock only once the victim is dead: else, on a busy machine, it may
        # still store and answer some of its requests before the kill lands.
        _kill_and_wait(_model_replicas()[victim], deadline + 60)
    for t in threads:
        t.join(timeout=120)
    codes = {i: getattr(a, "status_code", repr(a)) for i, a in answers.items()}
    assert codes == dict.fromkeys(range(n), 200)  # no 500 from Serve's proxy, no 503
    responses = [a for a in answers.values() if isinstance(a, httpx.Response)]
    tries = [r.headers.get("x-bizmodel-attempts", "1") for r in responses]
    assert tries.count("2") == ongoing[victim], (tries, ongoing)  # the victim's, once more
    assert victim not in {r.headers[REPLICA_HEADER] for r in responses}
    store = EventStore.open(settings.resolved_database_url())
    try:
        ids = [e["client_event_id"] for e in store.events(type="refund")]
    finally:
        store.close()
    assert sorted(ids) == sorted(f"inflight-{i}" for i in range(n))


def test_a_killed_ingress_costs_a_retrying_client_nothing(
    served: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Events wait on a store lock, so they are surely in flight on the ingress replicas; the
    one holding most of them is killed, the lock released. Serve's proxy answers its requests
    with a plain-text 500 (outside bizmodel's reach); every client of ``bizmodel.client``
    retries, is answered through the other ingress replica, and each event is stored once.
    Serve then brings the ingress back to two replicas."""
    from ray import serve

    from bizmodel.client import Client, RetryPolicy
    from bizmodel.scale.serve import APP_NAME, INGRESS_NAME, INGRESS_PER_NODE
    from bizmodel.store import EventStore

    n = 6
    results: dict[int, Any] = {}
    retries: dict[int, int] = {}

    def send(i: int) -> None:
        policy = RetryPolicy(attempts=6, backoff_s=0.2, max_wait_s=2.0)
        try:
            with Client(served.url, KEY, retry=policy, timeout_s=60) as api:
                results[i] = api.send_events([_event(f"ingress-{i}", "chargeback")["events"][0]])
                retries[i] = api.retries
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    assert len(_model_replicas(INGRESS_NAME)) == INGRESS_PER_NODE
    deadline = time.monotonic() + 90
    with _writes_blocked(settings.resolved_database_url()):
        threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        while True:  # until all n requests are in flight on the ingress replicas
            ongoing = _ongoing(_model_replicas(INGRESS_NAME))
            if sum(ongoing.values()) >= n:
                break
            assert time.monotonic() < deadline, f"requests in flight: {ongoing}"
            time.sleep(0.1)
        victim = max(ongoing, key=lambda rid: ongoing[rid])
        _kill_and_wait(_model_replicas(INGRESS_NAME)[victim], deadline + 60)
    for t in threads:
        t.join(timeout=120)
    failed = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert failed == {} and len(results) == n
    # The victim's requests needed a second try; the others' were answered at their first.
    assert sum(1 for i in range(n) if retries[i]) == ongoing[victim], (retries, ongoing)
    causes = [r.getMessage() for r in caplog.records if r.name == "bizmodel.client"]
    print("retried:", causes)
    assert len(causes) == sum(retries.values())
    assert all(": 500 http_error: " in c or "RemoteProtocolError" in c for c in causes), causes
    assert sum(r.inserted + r.duplicates for r in results.values()) == n
    store = EventStore.open(settings.resolved_database_url())
    try:
        ids = [e["client_event_id"] for e in store.events(type="chargeback")]
    finally:
        store.close()
    assert sorted(ids) == sorted(f"ingress-{i}" for i in range(n))
    while True:  # Serve replaces the dead ingress replica
        status = serve.status().applications[APP_NAME].deployments[INGRESS_NAME]
        replicas = _model_replicas(INGRESS_NAME)
        if status.status == "HEALTHY" and len(replicas) == INGRESS_PER_NODE:
            break
        assert time.monotonic() < deadline + 120, f"ingress not replaced: {status}"
        time.sleep(0.5)
    assert victim not in replicas


def test_serve_cli_refuses_a_bad_backend_or_replica_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.cli import run

    base = ["serve", "--project", str(tmp_path)]
    assert run([*base, "--backend", "k8s"]) == 1
    assert capsys.readouterr().err.strip() == "Error: --backend must be local or ray, got 'k8s'"
    assert run([*base, "--backend", "ray", "--min-replicas", "3", "--max-replicas", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "Error: --min-replicas 3 is more than --max-replicas 2"


def test_sqlite_is_refused_on_a_cluster_of_several_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bizmodel.config import Settings
    from bizmodel.errors import ConfigError
    from bizmodel.scale.serve import deploy

    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}, {"Alive": False}])
    settings = Settings.load(project_dir=tmp_path, env={})  # the default store: SQLite
    with pytest.raises(
        ConfigError, match=r"SQLite .* the Ray cluster has 2 nodes: set database_url"
    ):
        deploy(settings)
    assert not (tmp_path / "bizmodel.db").exists()  # refused before touching anything
