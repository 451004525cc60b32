"""One-thread ONNX sessions: the server runs micro-batches side by side, answers stay the same."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bizmodel.inference import FP32_ATOL, TorchRuntime

H = {"X-API-Key": "test-key-0123456789"}
TEXTS = [
    f"Acme {v} its {w} forecast" for v in ("raises", "cuts", "keeps") for w in ("profit", "sales")
]
PAIRS = ["Acme"] * len(TEXTS)


@pytest.mark.slow
def test_side_by_side_batches_answer_and_log_like_torch(sqlite_model_app, serving_model) -> None:  # type: ignore[no-untyped-def]
    path, loader = serving_model
    model = loader(path)
    pairs = PAIRS if model.text_pair_column else None
    want = TorchRuntime(model).predict(TEXTS, pairs)
    app = sqlite_model_app(runtime="onnx", num_threads=1, max_batch_size=2, parallel_batches=True)
    with TestClient(app) as c:
        assert c.get("/ready").json()["runtime"] == "onnx"
        served = next(iter(app.state.pool.models.values()))
        cores = os.cpu_count() or 1
        assert served.batcher.workers == (cores if cores > 1 else 1)

        def ask(i: int) -> float:
            body = {"text": TEXTS[i], **({"text_pair": pairs[i]} if pairs else {})}
            r = c.post("/v1/predict", json=body, headers=H)
            assert r.status_code == 200, r.text
            return float(r.json()["predictions"][0]["value"])

        with ThreadPoolExecutor(6) as ex:
            got = list(ex.map(ask, list(range(len(TEXTS))) * 3))
        np.testing.assert_allclose(got, np.tile(want, 3), atol=FP32_ATOL)
        rows = app.state.store.predictions()
        assert len(rows) == 3 * len(TEXTS)  # every answer logged
        assert all(r["cpu_seconds"] > 0 and r["cost_usd"] > 0 for r in rows)


def test_batches_run_one_at_a_time_by_default(sqlite_model_app) -> None:  # type: ignore[no-untyped-def]
    app = sqlite_model_app(runtime="onnx", num_threads=1)
    with TestClient(app) as c:
        assert c.get("/ready").json()["runtime"] == "onnx"
        served = next(iter(app.state.pool.models.values()))
        assert served.batcher.workers == 1
