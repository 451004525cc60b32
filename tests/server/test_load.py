"""A real uvicorn server on 127.0.0.1: 10,000 events from concurrent clients stored exactly
once; SIGKILL in the middle of a load loses no acknowledged event and duplicates none."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bizmodel.store import EventStore

KEY = "load-test-key"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp_path: Path, db_url: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "BIZMODEL_PROJECT_DIR": str(tmp_path),
            "BIZMODEL_DATABASE_URL": db_url,
            "BIZMODEL_API_KEYS": KEY,
        }
        self.log = open(tmp_path / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bizmodel", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180  # a busy machine imports torch slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError((tmp_path / f"server-{self.port}.log").read_text())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.log.close()


def batches(prefix: str, n_batches: int, size: int) -> list[list[dict]]:
    return [
        [
            {
                "user_id": f"u{b % 97}",
                "type": "purchase",
                "value": 1.0,
                "client_event_id": f"{prefix}-{b}-{i}",
            }
            for i in range(size)
        ]
        for b in range(n_batches)
    ]


def send_all(url: str, work: list[list[dict]], acked: list[str], threads: int) -> list[Exception]:
    lock = threading.Lock()
    errors: list[Exception] = []
    queue = list(reversed(work))

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = queue.pop()
                try:
                    r = client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError as exc:
                    errors.append(exc)
                    return
                if r.status_code == 200:
                    with lock:
                        acked.extend(e["client_event_id"] for e in batch)
                else:
                    errors.append(RuntimeError(f"{r.status_code}: {r.text}"))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def stored_ids(db_url: str) -> Counter[str]:
    store = EventStore.open(db_url)
    try:
        return Counter(e["client_event_id"] for e in store.events())
    finally:
        store.close()


@pytest.mark.slow
def test_10k_events_from_concurrent_clients_stored_exactly_once(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    server = Server(tmp_path, db_url)
    try:
        work = batches("load", 200, 50)  # 10,000 events
        acked: list[str] = []
        errors = send_all(server.url, work + work[:20], acked, threads=8)  # + 1,000 retries
        assert errors == []
    finally:
        server.stop()
    counts = stored_ids(db_url)
    assert len(counts) == 10_000 and max(counts.values()) == 1
    assert set(acked) == set(counts)


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_event(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    work = batches("kill", 400, 25)  # 10,000 events offered
    acked: list[str] = []
    server = Server(tmp_path, db_url)
    killer_done = threading.Event()

    def killer() -> None:
        while len(acked) < 1_500 and server.proc.poll() is None:
            time.sleep(0.005)
        server.proc.send_signal(signal.SIGKILL)  # no graceful shutdown, mid-request
        killer_done.set()

    k = threading.Thread(target=killer)
    k.start()
    errors = send_all(server.url, work, acked, threads=6)
    k.join()
    server.stop()
    assert killer_done.is_set() and server.proc.returncode == -signal.SIGKILL
    assert errors, "the load should have been interrupted by the kill"
    assert 1_500 <= len(acked) < 10_000

    after_kill = stored_ids(db_url)
    assert set(acked) <= set(after_kill)  # every acknowledged event survived
    assert max(after_kill.values()) == 1

    server = Server(tmp_path, db_url)  # restart on the same database, resend everything
    try:
        again: list[str] = []
        assert send_all(server.url, work, again, threads=6) == []
    finally:
        server.stop()
    final = stored_ids(db_url)
    assert len(final) == 10_000 and max(final.values()) == 1


@pytest.mark.slow
def test_bizmodel_serve_answers_with_a_registered_model(tmp_path, serving_model) -> None:  # type: ignore[no-untyped-def]
    from bizmodel.registry import Registry

    path, _ = serving_model
    Registry(tmp_path / "registry").register(path, "headlines")
    db_url = f"sqlite:///{tmp_path}/bizmodel.db"
    server = Server(tmp_path, db_url, "--runtime", "onnx")
    try:
        deadline = time.monotonic() + 120
        while httpx.get(server.url + "/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "model did not load"
            time.sleep(0.2)
        assert httpx.get(server.url + "/ready").json()["runtime"] == "onnx"
        body = {"texts": ["Acme", "Globex"], "text_pairs": ["Acme beats", "Globex misses"]}
        r = httpx.post(server.url + "/v1/predict", json=body, headers={"X-API-Key": KEY})
        assert r.status_code == 200 and r.json()["model_version"] == 1
        assert len(r.json()["predictions"]) == 2
    finally:
        server.stop()
    assert len(stored_predictions(db_url)) == 2


def stored_predictions(db_url: str) -> list[dict]:
    store = EventStore.open(db_url)
    try:
        return store.predictions()
    finally:
        store.close()
