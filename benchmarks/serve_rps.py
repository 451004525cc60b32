"""Serving: ``bizmodel serve`` vs a naive FastAPI app running one forward pass per request.

Both servers run the same fine-tuned model dir as separate uvicorn processes on 127.0.0.1, one
at a time, under the same closed-loop load: C concurrent clients, each sending one
(company, headline) pair of the SemEval-2017 test split per request and waiting for the answer.
The load client is a minimal asyncio HTTP/1.1 keep-alive client (little CPU, on the same cores).

- naive: ``@app.post("/predict") def predict(req): model.predict([text], [pair])`` — FastAPI
  runs it in its thread pool, one forward per request;
- bizmodel: ``bizmodel serve`` (micro-batching, runtime chosen by measurement, every
  prediction logged to SQLite with its latency and cost before the answer, API key checked).

The model is registered as ``bizmodel register --sample`` does with a labelled file (inference
cost plus the int8 vs fp32 check of the task metric on the held-out test rows, and with
``--sample-train-from N`` the training rows from N on too), so ``auto`` serves int8 only when
int8 keeps Pearson within 0.005 of fp32 (a 95% upper bound).
Reported per concurrency: requests/s, p50 and p99 latency (ms), failures, RPS ratio; medians of
``--repeats`` interleaved repeats (every server once per repeat).

Run:  python benchmarks/serve_rps.py --model-dir runs/headlines-full --concurrency 8 32

Before/after a change in one call window: ``--baseline-src DIR`` (the ``src`` folder of another
checkout, e.g. ``git archive HEAD~1 src | tar -x -C /tmp/base``) adds ``baseline:RUNTIME`` servers
run from that code, interleaved with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

# ../shared/data next to the repository (a worktree under wt/ looks one level further up).
_ROOT = Path(__file__).resolve().parents[1]
DATA = (
    next(
        (p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()),
        _ROOT.parent / "shared",
    )
    / "data"
    / "semeval2017-task5"
)
SRC = str(Path(__file__).resolve().parents[1] / "src")
KEY = "bench-key"


class Req(BaseModel):
    text: str
    text_pair: str | None = None


def naive_app(model_dir: str):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI

    from bizmodel.finetune import load_model

    model = load_model(model_dir)
    app = FastAPI()

    @app.post("/v1/predict")
    def predict(req: Req) -> dict[str, float]:
        pair = [req.text_pair] if req.text_pair is not None else None
        return {"value": float(model.predict([req.text], pair)[0])}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 300) -> None:  # type: ignore[type-arg]
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not become ready")


async def one_client(
    port: int,
    bodies: list[bytes],
    headers: bytes,
    latencies: list[float],
    failures: list[int],
    stop_at: float,
    counter: list[int],
    limit: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at and counter[0] < limit:
            i = counter[0]
            counter[0] += 1
            body = bodies[i % len(bodies)]
            req = (
                b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                + headers
                + b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                failures.append(status)
    finally:
        writer.close()


async def load(
    port: int, bodies: list[bytes], headers: bytes, conc: int, n: int, max_s: float
) -> dict[str, float]:
    latencies: list[float] = []
    failures: list[int] = []
    counter = [0]
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            one_client(port, bodies, headers, latencies, failures, t0 + max_s, counter, n)
            for _ in range(conc)
        )
    )
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "requests": len(lat),
        "rps": len(lat) / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "failures": len(failures),
    }


def run_server(
    kind: str, model_dir: str, work: Path, threads: int | None, baseline_src: str | None = None
) -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    port = free_port()
    src = baseline_src if kind.startswith("baseline:") and baseline_src else SRC
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if kind == "naive":
        cmd = [
            sys.executable,
            __file__,
            "--naive-server",
            "--model-dir",
            model_dir,
            "--port",
            str(port),
        ]
        path = "/docs"
    else:
        env.update(BIZMODEL_PROJECT_DIR=str(work), BIZMODEL_API_KEYS=KEY)
        if threads:
            env["BIZMODEL_SERVER_NUM_THREADS"] = str(threads)
        cmd = [
            sys.executable,
            "-m",
            "bizmodel",
            "serve",
            "--port",
            str(port),
            "--runtime",
            kind.split(":", 1)[1],
        ]
        path = "/ready"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, path, proc)
    return proc, port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--requests", type=int, default=1500, help="per run (upper bound)")
    ap.add_argument("--max-seconds", type=float, default=20.0, help="per run (upper bound)")
    ap.add_argument(
        "--runtime",
        nargs="+",
        default=["auto", "onnx-int8"],
        help="bizmodel runtimes to run: auto, torch, onnx, onnx-int8",
    )
    ap.add_argument("--threads", type=int, default=None, help="bizmodel inference threads")
    ap.add_argument(
        "--baseline-src",
        default=None,
        help="src folder of another checkout: also run its server (baseline:RUNTIME)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians)")
    ap.add_argument(
        "--sample-train-from",
        type=int,
        default=None,
        help="also gate int8 on the training rows from this one on (rows the model never "
        "saw: 300 for a model trained on the first 300), besides the test rows",
    )
    ap.add_argument("--naive-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.naive_server:
        import uvicorn

        uvicorn.run(
            naive_app(args.model_dir),
            host="127.0.0.1",
            port=args.port,
            access_log=False,
            log_level="warning",
        )
        return 0

    from bizmodel.inference.cost import measure_model_dir
    from bizmodel.registry import Registry

    df = pd.read_csv(DATA / "normalized" / "headlines.csv")
    test = df[df["split"] == "test"]
    bodies = [
        json.dumps({"text": c, "text_pair": t}).encode()
        for c, t in zip(test["company"], test["title"], strict=True)
    ]
    work = Path(tempfile.mkdtemp(prefix="bizmodel-bench-"))
    gate = test
    if args.sample_train_from is not None:
        unseen = df[df["split"] == "train"].iloc[args.sample_train_from :]
        gate = pd.concat([unseen, test])
    print(f"# int8 gate on {len(gate)} labelled rows the model did not train on")
    held = (list(gate["company"].astype(str)), list(gate["title"].astype(str)))

    def measure(path: Path) -> dict:  # type: ignore[type-arg]
        # As `bizmodel register --sample FILE` does with a labelled file: cost, plus int8 vs
        # fp32 on the held-out rows' task metric.
        return measure_model_dir(
            path, int8=True, sample=held, sample_targets=list(gate["score"].astype(float))
        )

    mv = Registry(work / "registry").register(args.model_dir, "headlines", measure=measure)
    print("# registered:", mv.summary().replace("\n", "\n#"))

    runs: dict[str, dict[int, list[dict[str, float]]]] = {}
    kinds = ["naive", *(f"bizmodel:{r}" for r in args.runtime)]
    if args.baseline_src:
        kinds += [f"baseline:{r}" for r in args.runtime]
    loads = []
    for _ in range(args.repeats):
        loads.append(os.getloadavg()[0])
        for kind in kinds:  # interleaved: every server once per repeat
            proc, port = run_server(kind, args.model_dir, work, args.threads, args.baseline_src)
            headers = b"" if kind == "naive" else f"X-API-Key: {KEY}\r\n".encode()
            if kind != "naive" and _ == 0:
                import httpx

                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
                print(f"# {kind}: serving {ready['model']} on runtime {ready['runtime']}")
                print(f"#   choice: {json.dumps(ready.get('runtime_choice'))}")
            try:
                asyncio.run(load(port, bodies, headers, 4, 40, 30))  # warm-up
                for conc in args.concurrency:
                    r = asyncio.run(
                        load(port, bodies, headers, conc, args.requests, args.max_seconds)
                    )
                    runs.setdefault(kind, {}).setdefault(conc, []).append(r)
            finally:
                proc.terminate()
                proc.wait(30)
    results = {
        kind: {
            conc: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            for conc, rs in by_conc.items()
        }
        for kind, by_conc in runs.items()
    }
    ratios = {
        kind: {
            conc: statistics.median(
                r["rps"] / n["rps"] for r, n in zip(rs, runs["naive"][conc], strict=True)
            )
            for conc, rs in by_conc.items()
        }
        for kind, by_conc in runs.items()
    }

    print(
        f"# serving, SemEval headline pairs, one per request, closed loop; "
        f"<= {args.requests} requests or {args.max_seconds:.0f} s per run; {os.cpu_count()} cores; "
        f"medians of {args.repeats} interleaved repeats (x naive: median of per-repeat ratios); "
        f"1-min load average at each repeat: {', '.join(f'{x:.1f}' for x in loads)}"
    )
    print(
        f"{'server':<22} {'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5} "
        f"{'x naive':>7}"
    )
    for kind, by_conc in results.items():
        for conc, r in by_conc.items():
            ratio = ratios[kind][conc]
            print(
                f"{kind:<22} {conc:>4} {r['rps']:>7.1f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                f"{r['failures']:>5.0f} {ratio:>7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
