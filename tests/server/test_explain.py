"""POST /v1/explain: token attributions from the served model, keyed, bounded, rate-limited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

HEADERS = {"X-API-Key": "test-key-0123456789"}
PAIR = {"text": "Acme", "text_pair": "Acme files for bankruptcy"}


@pytest.fixture
def explain_client(sqlite_model_app):  # type: ignore[no-untyped-def]
    with TestClient(sqlite_model_app()) as c:
        yield c


def test_explain_ig_and_shap_match_the_served_prediction(explain_client) -> None:  # type: ignore[no-untyped-def]
    c = explain_client
    value = c.post("/v1/predict", json=PAIR, headers=HEADERS).json()["predictions"][0]["value"]
    r = c.post("/v1/explain", json={**PAIR, "method": "ig", "n_steps": 20}, headers=HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "integrated-gradients" and body["n_steps"] == 20
    assert body["model_name"] == "headlines" and body["model_version"] == 1
    (e,) = body["explanations"]
    assert len(e["tokens"]) == len(e["attributions"]) and "bankruptcy" in e["tokens"]
    assert e["prediction"] == pytest.approx(value, abs=1e-5)
    gap = e["prediction"] - e["baseline_prediction"]
    assert sum(e["attributions"]) - gap == pytest.approx(e["delta"], abs=1e-5)

    r = c.post(
        "/v1/explain",
        json={
            "texts": ["Acme", "Acme"],
            "text_pairs": ["Acme up", "Acme down"],
            "method": "shap",
            "n_samples": 40,
        },
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "shap" and r.json()["n_samples"] == 40
    for e in r.json()["explanations"]:
        gap = e["prediction"] - e["baseline_prediction"]
        assert sum(e["attributions"]) == pytest.approx(gap, abs=1e-6)  # SHAP's efficiency


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"text": "Acme"}, 422, "reads text pairs"),
        ({**PAIR, "method": "lime"}, 422, "method: "),
        ({**PAIR, "n_steps": 1000}, 422, "n_steps: "),
        ({**PAIR, "target": "up"}, 422, "only for classification"),
        ({**PAIR, "method": "shap", "n_samples": 3}, 422, "SHAP needs at least 14"),
        ({**PAIR, "text": "x" * 2001}, 422, "text: "),
        ({"texts": ["a"] * 9, "text_pairs": ["b"] * 9}, 422, "texts: "),
        (
            {"texts": ["a"] * 8, "text_pairs": ["b"] * 8, "method": "shap", "n_samples": 600},
            422,
            "8 input(s) x n_samples 600 = 4800 model evaluations; at most 4000",
        ),
        ({**PAIR, "model": "nope"}, 404, "no model named 'nope'"),
        ({**PAIR, "version": 7}, 404, "no model 'headlines' with version 7"),
    ],
)
def test_bad_input_is_a_4xx_json(explain_client, body, status, match) -> None:  # type: ignore[no-untyped-def]
    r = explain_client.post("/v1/explain", json=body, headers=HEADERS)
    assert r.status_code == status and match in r.json()["detail"], r.text


def test_key_required_and_rate_limited(sqlite_model_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(sqlite_model_app(explain_per_minute=2)) as c:
        assert c.post("/v1/explain", json=PAIR).status_code == 401
        assert c.post("/v1/explain", json=PAIR, headers={"X-API-Key": "x"}).status_code == 403
        cheap = {**PAIR, "n_steps": 2}
        for _ in range(2):
            assert c.post("/v1/explain", json=cheap, headers=HEADERS).status_code == 200
        r = c.post("/v1/explain", json=cheap, headers=HEADERS)
        assert r.status_code == 429 and r.json()["error"] == "rate_limit_error"
        assert "more than 2 calls per minute" in r.json()["detail"]
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # The limit is per key: another valid key still gets through.
        other = {"X-API-Key": "second-key"}
        assert c.post("/v1/explain", json=cheap, headers=other).status_code == 200
        assert "/v1/explain" in c.get("/openapi.json").json()["paths"]
