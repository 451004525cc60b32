"""``bizmodel serve --replicas 2``: two worker processes behind one port, one PostgreSQL store."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_replicas_serve_one_port_and_write_one_store(db_url: str, tmp_path: Path) -> None:
    from bizmodel.store import EventStore

    port = _free_port()
    env = {
        **os.environ,
        "BIZMODEL_PROJECT_DIR": str(tmp_path),
        "BIZMODEL_DATABASE_URL": db_url,
        "BIZMODEL_API_KEYS": "k1",
        "BIZMODEL_SERVER_NUM_THREADS": "1",
        "BIZMODEL_SERVER_RATE_PER_MINUTE": "30",  # per key, across both workers
    }
    cmd = [sys.executable, "-m", "bizmodel", "serve", "--replicas", "2", "--port", str(port)]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.5)
        assert len(_children(proc.pid)) >= 2  # the supervisor's worker processes
        for i in range(30):  # a new connection per request: the kernel spreads them
            r = httpx.post(
                f"{url}/v1/events",
                json={
                    "events": [{"user_id": f"u{i}", "type": "signup", "client_event_id": f"e{i}"}]
                },
                headers={"X-API-Key": "k1"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
        # The key's bucket is shared by the workers (in the store): 30 calls, then one every
        # 2 s. Per-worker buckets would have let all 20 more through (30 + 30 tokens).
        started, codes = time.monotonic(), []
        for i in range(20):
            r = httpx.post(
                f"{url}/v1/events",
                json={"events": [{"user_id": f"x{i}", "type": "visit"}]},
                headers={"X-API-Key": "k1"},
                timeout=10,
            )
            codes.append(r.status_code)
        refilled = int((time.monotonic() - started) / 2) + 1
        assert 429 in codes and codes.count(200) <= refilled, codes
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    store = EventStore.open(db_url)
    try:
        assert store.count("events") == 30 + codes.count(200)
    finally:
        store.close()
