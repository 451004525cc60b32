"""The HTTP API end to end (in process), against SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

H = {"X-API-Key": "test-key-0123456789"}


def test_health_ready_without_model(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 503 and r.json()["database"] == "ok" and r.json()["model"] is None


def test_events_batch_is_idempotent(client) -> None:  # type: ignore[no-untyped-def]
    body = {
        "events": [
            {"user_id": "u1", "type": "signup", "client_event_id": "e1"},
            {
                "user_id": "u1",
                "type": "purchase",
                "value": 20.0,
                "client_event_id": "e2",
                "ts": "2026-11-01T10:00:00Z",
                "properties": {"plan": "pro"},
            },
            {"user_id": "u2", "type": "visit"},
        ]
    }
    r = client.post("/v1/events", json=body, headers=H)
    assert r.status_code == 200 and r.json() == {"received": 3, "inserted": 3, "duplicates": 0}
    r = client.post("/v1/events", json={"events": body["events"][:2]}, headers=H)
    assert r.json() == {"received": 2, "inserted": 0, "duplicates": 2}
    store = client.app.state.store
    assert store.count("events") == 3
    assert store.events(type="purchase")[0]["properties"] == {"plan": "pro"}


def test_event_validation_messages(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/events", json={"events": [{"user_id": "u", "type": "bad type!"}]}, headers=H
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert r.json()["detail"].startswith("events.0.type: ")
    r = client.post("/v1/events", json={"events": []}, headers=H)
    assert r.status_code == 422 and "at least 1 item" in r.json()["detail"]


def test_experiment_crud_and_assignment(client) -> None:  # type: ignore[no-untyped-def]
    exp = {
        "name": "pricing",
        "variants": [{"name": "low", "weight": 1}, {"name": "high", "weight": 3}],
        "salt": "s1",
    }
    r = client.post("/v1/experiments", json=exp, headers=H)
    assert r.status_code == 201 and r.json()["status"] == "running"
    assert client.post("/v1/experiments", json=exp, headers=H).status_code == 409
    assert [e["name"] for e in client.get("/v1/experiments").json()] == ["pricing"]

    def assign(user: str) -> dict[str, str]:
        params = {"experiment": "pricing", "user_id": user}
        return dict(client.get("/v1/assign", params=params, headers=H).json())

    got = {assign(f"u{i}")["variant"] for i in range(40)}
    assert got == {"low", "high"}
    a = client.get(
        "/v1/assign", params={"experiment": "pricing", "user_id": "u7"}, headers=H
    ).json()
    assert (
        a
        == client.get(
            "/v1/assign", params={"experiment": "pricing", "user_id": "u7"}, headers=H
        ).json()
    )
    assert len(client.app.state.store.assignments("pricing")) == 40  # exposures, once each
    r = client.patch("/v1/experiments/pricing", json={"status": "stopped"}, headers=H)
    assert r.json()["status"] == "stopped"
    r = client.get("/v1/assign", params={"experiment": "pricing", "user_id": "u1"}, headers=H)
    assert r.status_code == 409 and "is stopped" in r.json()["detail"]
    assert client.delete("/v1/experiments/pricing", headers=H).status_code == 204
    r = client.get("/v1/experiments/pricing")
    assert r.status_code == 404 and r.json() == {
        "error": "not_found_error",
        "detail": "no experiment named 'pricing'",
    }


def test_model_experiment_needs_registered_versions(client) -> None:  # type: ignore[no-untyped-def]
    exp = {"name": "mv", "model_name": "nope", "variants": [{"name": "a", "model_version": 1}]}
    r = client.post("/v1/experiments", json=exp, headers=H)
    assert r.status_code == 404 and "no model named 'nope'" in r.json()["detail"]


def test_feedback_for_unknown_prediction_is_404(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/feedback", json={"prediction_id": "0" * 32, "rating": 5}, headers=H)
    assert r.status_code == 404 and r.json()["error"] == "not_found_error"


def test_predict_without_model_is_404(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/predict", json={"text": "x"}, headers=H)
    assert r.status_code == 404 and "register one" in r.json()["detail"]


def test_metrics_exposition(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/events", json={"events": [{"user_id": "u", "type": "signup"}]}, headers=H)
    text = client.get("/metrics").text
    assert 'bizmodel_http_requests_total{method="POST",route="/v1/events",status="200"} 1.0' in text
    assert 'bizmodel_events_stored_total{type="signup"} 1.0' in text
    assert "bizmodel_http_request_duration_seconds_bucket" in text


@pytest.mark.slow
def test_predict_feedback_cost_and_metrics(model_client) -> None:  # type: ignore[no-untyped-def]
    c = model_client
    ready = c.get("/ready").json()
    assert ready["model"] == "headlines:1" and ready["runtime"] == "torch"
    body = {
        "texts": ["Shares jump on record profit", "Bank fined"],
        "text_pairs": ["Acme", "Bnk"],
        "user_id": "u1",
    }
    r = c.post("/v1/predict", json=body, headers=H)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "headlines" and out["model_version"] == 1
    assert len(out["predictions"]) == 2 and isinstance(out["predictions"][0]["value"], float)
    one = c.post(
        "/v1/predict", json={"text": "Shares jump on record profit", "text_pair": "Acme"}, headers=H
    ).json()
    assert one["predictions"][0]["value"] == pytest.approx(out["predictions"][0]["value"], abs=1e-4)
    store = c.app.state.store
    rows = store.predictions()
    assert len(rows) == 3 and all(r["cpu_seconds"] > 0 and r["cost_usd"] > 0 for r in rows)
    assert rows[0]["inputs"] in (
        {"text": body["texts"][0], "pair": "Acme"},
        {"text": body["texts"][1], "pair": "Bnk"},
    )
    pid = out["predictions"][0]["id"]
    r = c.post(
        "/v1/feedback", json={"prediction_id": pid, "correction": 0.7, "rating": 4}, headers=H
    )
    assert r.status_code == 201 and store.feedback()[0]["correction"] == 0.7
    text = c.get("/metrics").text
    assert 'bizmodel_predictions_total{model="headlines",version="1"} 3.0' in text
    assert "bizmodel_batch_size_count" in text and "bizmodel_compute_cost_usd_total" in text
    r = c.post("/v1/predict", json={"text": "no pair"}, headers=H)
    assert r.status_code == 422 and "reads text pairs" in r.json()["detail"]


def test_replayed_requests_keep_their_timestamps(model_client) -> None:  # type: ignore[no-untyped-def]
    c = model_client
    body = {"text": "Bank fined", "text_pair": "Bnk", "ts": "2026-03-01T12:00:00+01:00"}
    pid = c.post("/v1/predict", json=body, headers=H).json()["predictions"][0]["id"]
    fb = {"prediction_id": pid, "rating": 5, "ts": "2026-03-02T08:00:00"}  # naive = UTC
    assert c.post("/v1/feedback", json=fb, headers=H).status_code == 201
    store = c.app.state.store
    (pred,) = [p for p in store.predictions() if p["id"] == pid]
    assert pred["ts"].isoformat() == "2026-03-01T11:00:00+00:00"
    assert store.feedback()[-1]["ts"].isoformat() == "2026-03-02T08:00:00+00:00"


def test_an_idempotency_key_makes_predict_and_feedback_safe_to_send_again(model_client) -> None:  # type: ignore[no-untyped-def]
    c, store = model_client, model_client.app.state.store
    body = {"texts": ["Bank fined", "Bank fined", "Acme beats"], "text_pairs": ["B", "B", "A"]}
    keyed = {**H, "Idempotency-Key": "req-1"}
    first = c.post("/v1/predict", json=body, headers=keyed).json()["predictions"]
    again = c.post("/v1/predict", json=body, headers=keyed).json()["predictions"]
    assert [p["id"] for p in again] == [p["id"] for p in first]  # the same ids ...
    assert len({p["id"] for p in first}) == 3  # ... one per input, equal texts too
    assert len(store.predictions()) == 3  # ... logged once
    other = c.post("/v1/predict", json=body, headers={**H, "Idempotency-Key": "req-2"}).json()
    changed = {**body, "texts": ["Bank fined", "Bank fined", "Acme misses"]}
    reused = c.post("/v1/predict", json=changed, headers=keyed).json()["predictions"]
    assert not {p["id"] for p in other["predictions"]} & {p["id"] for p in first}
    assert [p["id"] == q["id"] for p, q in zip(reused, first, strict=True)] == [True, True, False]
    assert len(store.predictions()) == 7
    plain = [c.post("/v1/predict", json=body, headers=H).json() for _ in range(2)]
    assert plain[0]["predictions"][0]["id"] != plain[1]["predictions"][0]["id"]

    pid = first[0]["id"]
    fb = {"prediction_id": pid, "rating": 4}
    ids = [c.post("/v1/feedback", json=fb, headers=keyed) for _ in range(2)]
    assert [r.status_code for r in ids] == [201, 201] and ids[0].json() == ids[1].json()
    assert len(store.feedback()) == 1
    on_other = c.post("/v1/feedback", json={**fb, "prediction_id": first[2]["id"]}, headers=keyed)
    assert on_other.json()["id"] != ids[0].json()["id"]  # the key is per prediction
    assert c.post("/v1/feedback", json=fb, headers=H).json()["id"] not in {ids[0].json()["id"]}
    assert len(store.feedback()) == 3
    for bad in ("two words", "x" * 129, "caf\xe9".encode("latin-1")):
        r = c.post("/v1/predict", json=body, headers={**H, "Idempotency-Key": bad})
        assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"], r.text
        r = c.post("/v1/feedback", json=fb, headers={**H, "Idempotency-Key": bad})
        assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"], r.text
    assert len(store.feedback()) == 3


@pytest.mark.slow
def test_model_version_experiment_routes_predict(model_client) -> None:  # type: ignore[no-untyped-def]
    c = model_client
    exp = {
        "name": "v1-vs-v2",
        "model_name": "headlines",
        "salt": "route",
        "variants": [
            {"name": "champion", "model_version": 1},
            {"name": "challenger", "model_version": 2},
        ],
    }
    assert c.post("/v1/experiments", json=exp, headers=H).status_code == 201
    seen = {}
    for i in range(12):
        user = f"user-{i}"
        r = c.post(
            "/v1/predict",
            json={"text": "Profit up", "text_pair": "Acme", "user_id": user},
            headers=H,
        ).json()
        assigned = c.get(
            "/v1/assign", params={"experiment": "v1-vs-v2", "user_id": user}, headers=H
        ).json()
        assert r["experiment"] == "v1-vs-v2" and r["variant"] == assigned["variant"]
        assert r["model_version"] == assigned["model_version"]
        seen[r["variant"]] = r["model_version"]
    assert seen == {"champion": 1, "challenger": 2}
    rows = c.app.state.store.predictions()
    assert {(r["variant"], r["model_version"]) for r in rows} == {
        ("champion", 1),
        ("challenger", 2),
    }
    # Without a user id the production version answers.
    r = c.post("/v1/predict", json={"text": "Profit up", "text_pair": "Acme"}, headers=H)
    assert r.json()["model_version"] == 1 and r.json()["variant"] is None


def test_a_broken_model_dir_is_503_not_500(tmp_path, db_url, serving_model) -> None:  # type: ignore[no-untyped-def]
    import shutil
    from pathlib import Path

    from fastapi.testclient import TestClient

    from bizmodel.config import ServerSettings, Settings
    from bizmodel.registry import Registry
    from bizmodel.server import create_app

    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(Path(serving_model[0]) / "bizmodel.json", broken)  # weights missing
    Registry(tmp_path / "registry").register(broken, "bad")
    s = Settings.load(
        project_dir=tmp_path,
        env={},
        database_url=db_url,
        api_keys=("k",),
        server=ServerSettings(runtime="torch"),
    )
    with TestClient(create_app(s)) as c:
        ready = c.get("/ready")
        assert ready.json()["status"] == "model bad:1 cannot be loaded; the server log says why"
        assert ready.status_code == 503 and str(tmp_path) not in ready.text
        r = c.post("/v1/predict", json={"text": "x"}, headers={"X-API-Key": "k"})
        assert r.status_code == 503 and r.json()["error"] == "serving_error"
        ok = c.post(
            "/v1/events",
            json={"events": [{"user_id": "u", "type": "v"}]},
            headers={"X-API-Key": "k"},
        )
        assert ok.status_code == 200  # events are still accepted
