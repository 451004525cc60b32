"""Ray Serve: requests/s of ``bizmodel serve --backend ray`` with 1 and 2 replicas, beside
``bizmodel serve`` (one uvicorn process), on the same machine, model and requests.

Kinds: ``local`` (``bizmodel serve``), ``ray:N`` (``bizmodel serve --backend ray --replicas N``:
Serve's proxy -> the retrying ingress -> N model replicas) and ``ray-direct:N`` (the model
replicas are the HTTP entry, no ingress: ``deploy(..., ingress=False)``, what ``--backend ray``
was before the ingress). ``ray:N`` beside ``ray-direct:N`` is the cost of the ingress's hop.

Each server runs as its own process on 127.0.0.1, one at a time, under the closed-loop load of
``serve_rps.py`` (C keep-alive clients, one (company, headline) pair per request; the client
runs on the same cores). Every replica writes every prediction to the one store (``--database``,
default a SQLite file) before answering. On one machine a second replica adds no cores, so
this measures the overhead of Serve's proxy and what a second process gains on shared cores;
it is not a multi-machine measurement.

Run:  python benchmarks/ray_serve_rps.py --model-dir MODEL --concurrency 8 32 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_rps import KEY, free_port, load


def start(kind: str, work: Path, port: int, database: str, runtime: str) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {
        **os.environ,
        "BIZMODEL_PROJECT_DIR": str(work),
        "BIZMODEL_API_KEYS": KEY,
        "BIZMODEL_DATABASE_URL": database,
        "BIZMODEL_SERVER_RUNTIME": runtime,
        "BIZMODEL_SERVER_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "bizmodel", "serve", "--port", str(port)]
    if kind.startswith("ray:"):
        cmd += ["--backend", "ray", "--replicas", kind.split(":")[1]]
    elif kind.startswith("ray-direct:"):
        cmd = [sys.executable, __file__, "--serve-direct", kind.split(":")[1], "--port", str(port)]
    log = open(work / f"{kind.replace(':', '-')}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, proc: subprocess.Popen, replicas: int) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 300
    seen: set[str] = set()
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
            if r.status_code == 200:
                seen.add(r.headers.get("x-bizmodel-replica", "local"))
                if len(seen) >= replicas:
                    return
                continue
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError("server not ready")


def serve_direct(replicas: int, port: int) -> int:
    """``bizmodel serve --backend ray`` without the ingress (settings from the environment)."""
    from bizmodel.config import Settings
    from bizmodel.scale.serve import ReplicaScaling, serve_ray

    scaling = ReplicaScaling.fixed(replicas)
    serve_ray(Settings.load(), scaling, host="127.0.0.1", port=port, ingress=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve-direct", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--max-seconds", type=float, default=15.0)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--runtime", default="onnx")
    ap.add_argument("--database", default=None, help="store URL (default: SQLite in a temp dir)")
    ap.add_argument("--kinds", nargs="+", default=["local", "ray:1", "ray:2"])
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians)")
    args = ap.parse_args(argv)
    if args.serve_direct is not None:  # the server process of a ray-direct:N kind
        return serve_direct(args.serve_direct, args.port)
    if not args.model_dir:
        ap.error("--model-dir is required")

    from bizmodel.datasets import financial_headlines
    from bizmodel.registry import Registry

    rows = financial_headlines(200, seed=1)
    bodies = [
        json.dumps({"text": c, "text_pair": h}).encode()
        for c, h in zip(rows["company"], rows["headline"], strict=True)
    ]
    work = Path(tempfile.mkdtemp(prefix="bizmodel-rayserve-"))
    Registry(work / "registry").register(args.model_dir, "headlines")
    database = args.database or f"sqlite:///{work}/bizmodel.db"
    headers = f"X-API-Key: {KEY}\r\n".encode()
    print(
        f"# {os.cpu_count()} cores, runtime {args.runtime}, 1 inference thread per process, "
        f"store {database.split(':')[0]}; <= {args.max_seconds:.0f} s per run"
    )
    ap_runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    loads = []
    for _ in range(args.repeats):  # interleaved: every server once per repeat
        loads.append(os.getloadavg()[0])
        for kind in args.kinds:
            port = free_port()
            proc = start(kind, work, port, database, args.runtime)
            try:
                wait_ready(port, proc, 1 if kind == "local" else int(kind.split(":")[1]))
                asyncio.run(load(port, bodies, headers, 4, 60, 30))  # warm-up
                for conc in args.concurrency:
                    r = asyncio.run(
                        load(port, bodies, headers, conc, args.requests, args.max_seconds)
                    )
                    ap_runs.setdefault((kind, conc), []).append(r)
                    print(f"#   {kind} c={conc}: {r['rps']:.1f} req/s", flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    print(
        f"# medians of {args.repeats} interleaved repeats; 1-min load average at each repeat: "
        f"{', '.join(f'{x:.1f}' for x in loads)}"
    )
    print(f"{'server':<12} {'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5}")
    for (kind, conc), rs in ap_runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(
            f"{kind:<12} {conc:>4} {m['rps']:>7.1f} {m['p50_ms']:>7.1f} {m['p99_ms']:>7.1f} "
            f"{m['failures']:>5.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
