"""``bizmodel serve --backend ray``: the app on a local Ray cluster with 2 replicas.

One local Ray instance (2 CPUs) and one deployment for the whole module (replicas of 1 CPU and
1 thread, the session's tiny model, 127.0.0.1 only). The store is PostgreSQL where the suite has
one (BIZMODEL_TEST_POSTGRES_URL, as in CI) and SQLite otherwise.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

KEY = "ray-serve-test-key"
HEADERS = {"X-API-Key": KEY}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory, fresh_postgres: Any) -> Iterator[str]:
    """A fresh PostgreSQL database when the suite has one, else a SQLite file."""
    if not os.environ.get("BIZMODEL_TEST_POSTGRES_URL"):
        yield f"sqlite:///{tmp_path_factory.mktemp('ray-serve-db')}/bizmodel.db"
        return
    with fresh_postgres(os.environ["BIZMODEL_TEST_POSTGRES_URL"]) as url:
        yield url


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database: str, tiny_model_dir: str) -> Any:
    from bizmodel.config import ServerSettings, Settings
    from bizmodel.registry import Registry

    project = tmp_path_factory.mktemp("ray-serve")
    Registry(project / "registry").register(tiny_model_dir, "headlines")
    return Settings.load(
        project_dir=project,
        env={},
        database_url=database,
        api_keys=(KEY,),
        server=ServerSettings(runtime="torch", max_wait_ms=2.0, num_threads=1),
    )


@pytest.fixture(scope="module")
def served(settings: Any) -> Iterator[Any]:
    """The deployment: 2 fixed replicas behind Serve's proxy on 127.0.0.1."""
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


def test_every_acknowledged_event_is_stored_once_after_a_replica_is_killed(
    served: Any, settings: Any
) -> None:
    from bizmodel.scale.serve import APP_NAME, REPLICA_HEADER
    from bizmodel.store import EventStore

    clients, per_client = 4, 15
    acked: list[str] = []
    seen_replicas: set[str] = set()
    failures: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()  # set once 10 events are acknowledged: then one replica dies
    deadline = time.monotonic() + 120

    def client(c: int) -> None:
        for i in range(per_client):
            cid = f"kill-{c}-{i}"
            while True:  # retry with the same client_event_id until acknowledged
                assert time.monotonic() < deadline, f"{cid} never acknowledged"
                try:
                    r = _post(f"{served.url}/v1/events", _event(cid, "purchase"))
                except httpx.TransportError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code == 200:
                    break
                failures.append(f"{r.status_code} {r.text[:300]}")
                time.sleep(0.05)
            with lock:
                acked.append(cid)
                seen_replicas.add(r.headers[REPLICA_HEADER])
                if len(acked) >= 10:
                    enough.set()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    assert enough.wait(timeout=60)
    with lock:
        victim = sorted(seen_replicas)[0]
    actor = ray.get_actor(f"SERVE_REPLICA::{APP_NAME}#{APP_NAME}#{victim}", namespace="serve")
    ray.kill(actor, no_restart=True)
    for t in threads:
        t.join(timeout=150)
    assert not any(t.is_alive() for t in threads)
    expected = sorted(f"kill-{c}-{i}" for c in range(clients) for i in range(per_client))
    assert sorted(acked) == expected, failures[:3]  # every client got through in the end
    store = EventStore.open(settings.resolved_database_url())
    try:
        ids = [e["client_event_id"] for e in store.events(type="purchase")]
    finally:
        store.close()
    assert sorted(ids) == expected  # every acknowledged event, each exactly once


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
