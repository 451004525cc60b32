"""Security: API keys, names that cannot escape, body size limit, malformed JSON."""

from __future__ import annotations

import pytest

from bizmodel.server.security import check_api_key

H = {"X-API-Key": "test-key-0123456789"}
EVENT = {"events": [{"user_id": "u", "type": "visit"}]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/events", EVENT),
        ("post", "/v1/feedback", {"prediction_id": "0" * 32, "rating": 1}),
        ("post", "/v1/predict", {"text": "x"}),
        ("post", "/v1/experiments", {"name": "e", "variants": [{"name": "a"}]}),
        ("patch", "/v1/experiments/e", {"status": "stopped"}),
        ("delete", "/v1/experiments/e", None),
    ],
)
def test_writes_need_a_valid_key(client, method: str, path: str, body) -> None:  # type: ignore[no-untyped-def]
    call = getattr(client, method)
    kwargs = {"json": body} if body is not None else {}
    r = call(path, **kwargs)
    assert r.status_code == 401 and r.json() == {
        "error": "auth_error",
        "detail": "missing API key: send it in the X-API-Key header",
    }
    r = call(path, headers={"X-API-Key": "wrong"}, **kwargs)
    assert r.status_code == 403 and r.json()["error"] == "permission_denied_error"
    r = call(path, headers={"Authorization": "Bearer nope"}, **kwargs)
    assert r.status_code == 403
    assert client.app.state.store.count("events") == 0


def test_second_key_and_bearer_are_accepted(client) -> None:  # type: ignore[no-untyped-def]
    assert (
        client.post("/v1/events", json=EVENT, headers={"X-API-Key": "second-key"}).status_code
        == 200
    )
    r = client.post("/v1/events", json=EVENT, headers={"Authorization": "Bearer second-key"})
    assert r.status_code == 200


def test_check_api_key_matches_bootstrap_keys() -> None:
    assert check_api_key("anything", ()) == 0
    assert check_api_key("abc", ("abd",)) == 0
    assert check_api_key("abd", ("abc", "abd")) == 2
    assert check_api_key(None, ("abc",)) == 0


def test_no_keys_at_all_is_401_then_403(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.server import create_app

    s = Settings.load(tmp_path, env={}, database_url=f"sqlite:///{tmp_path}/b.db")
    with TestClient(create_app(s)) as c:
        assert c.post("/v1/events", json=EVENT).status_code == 401
        assert c.post("/v1/events", json=EVENT, headers={"X-API-Key": "x"}).status_code == 403


@pytest.mark.parametrize("name", ["../../etc", "..%2F..%2Fetc", ".hidden", "a b", "x" * 65])
def test_traversal_in_model_and_experiment_names_refused(client, name: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/predict", json={"text": "x", "model": name}, headers=H)
    assert r.status_code == 422 and "model" in r.json()["detail"]
    r = client.get(f"/v1/experiments/{name}")
    assert r.status_code in (404, 422) and "error" in r.json()
    r = client.post(
        "/v1/experiments",
        json={"name": name, "variants": [{"name": "a"}], "model_name": name},
        headers=H,
    )
    assert r.status_code == 422


def test_oversized_body_is_413(client) -> None:  # type: ignore[no-untyped-def]
    big = {"events": [{"user_id": "u" * 100, "type": "visit"}] * 20_000}  # ~2.4 MB > 1 MB
    r = client.post("/v1/events", json=big, headers=H)
    assert r.status_code == 413
    assert r.json() == {
        "error": "payload_too_large",
        "detail": "request body exceeds the limit of 1000000 bytes",
    }


def test_oversized_streamed_body_without_length_is_413(client) -> None:  # type: ignore[no-untyped-def]
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(30):
            yield b" " * 50_000

    r = client.post(
        "/v1/events", content=chunks(), headers={**H, "content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("raw", [b"{not json", b'{"events": [', b"\xff\xfe", b""])
def test_malformed_json_is_422_with_message(client, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/events", content=raw, headers={**H, "content-type": "application/json"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error" and body["detail"]


def test_nan_and_unknown_fields_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/events",
        content=b'{"events":[{"user_id":"u","type":"v","value":NaN}]}',
        headers={**H, "content-type": "application/json"},
    )
    assert r.status_code == 422
    r = client.post(
        "/v1/events", json={"events": [{"user_id": "u", "type": "v", "x": 1}]}, headers=H
    )
    assert r.status_code == 422 and "Extra inputs are not permitted" in r.json()["detail"]
