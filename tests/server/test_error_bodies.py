"""Errors reveal nothing: every route of the app, swept with bad input, answers the one-line
``{"error", "detail"}`` shape, never a 5xx, and no body holds a path, SQL, stack trace or
library message."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bizmodel.registry import Registry
from bizmodel.server import create_app

ANYWHERE = ["Traceback", 'File "', "site-packages"]  # in no answer at all
IN_ERRORS = [  # in no error answer (case-insensitive)
    ".py",
    "sqlalchemy",
    "sqlite",
    "psycopg",
    "postgres",
    "pydantic",
    "starlette",
    "fastapi",
    "uvicorn",
    "registry",
    "errors.pydantic.dev",
]
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|WHERE|CONSTRAINT|VALUES)\b")
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b")

MALFORMED = [b"{not json", b'{"events": [', b"\xff\xfe\x00", b"", b"[" * 50_000, b'{"a":1}}']
WRONG_TYPES: list[Any] = [
    5,
    "text",
    [],
    None,
    {"text": 5},
    {"texts": "a", "text_pairs": 3},
    {"events": "x"},
    {"events": [{"user_id": None, "type": 7, "value": "1e999", "ts": "yesterday"}]},
    {"prediction_id": "z" * 32, "rating": "five"},
    {"name": "", "variants": "a"},
    {"status": "gone"},
    {"text": "x", "text_pair": "y", "n_steps": "many", "method": "magic"},
    {"correction": {"nested": [1]}, "prediction_id": "0" * 32},
]
HUGE: list[Any] = [
    {"text": "x" * 20_000, "text_pair": "y"},
    {"texts": ["x"] * 5_000},
    {"events": [{"user_id": "u", "type": "v", "value": 1e308 * 10}]},
    {"events": [{"user_id": "u", "type": "v", "value": 10**400}]},
    {"events": [{"user_id": "u" * 10_000, "type": "v"}]},
    {"text": "x", "text_pair": "y", "n_steps": 10**30, "seed": -1},
    {"prediction_id": "0" * 32, "rating": 1e300},
    {"name": "e" * 300, "variants": [{"name": "a", "weight": 1e300}] * 100},
]
UNKNOWN: list[Any] = [  # well-formed, naming things that do not exist
    {"text": "x", "text_pair": "y", "model": "nope"},
    {"text": "x", "text_pair": "y", "model": "headlines", "version": 99},
    {"text": "x", "text_pair": "y", "target": "no-such-class", "n_steps": 2},
    {"prediction_id": "0" * 32, "rating": 1},
    {"name": "mv", "model_name": "nope", "variants": [{"name": "a", "model_version": 1}]},
    {"name": "mv2", "model_name": "headlines", "variants": [{"name": "a", "model_version": 9}]},
    {"name": "exp", "variants": [{"name": "a"}]},  # exists already: conflict
    {"status": "stopped"},
    {"events": [{"user_id": "u\x00", "type": "visit", "properties": {"k": "v\x00"}}]},
    {"prediction_id": "0" * 32, "comment": "nul \x00 inside"},
]
PATH_VALUES = ["nope", "exp", "x" * 300, "..%2F..%2Fetc", "%00", "a%20b", "%2e%2e"]
QUERIES = [
    {},
    {"experiment": "nope", "user_id": "u"},
    {"experiment": "exp", "user_id": "u" * 500},
    {"experiment": "../x", "user_id": "u"},
    {"experiment": "exp", "user_id": "u\x00"},
]
BAD_AUTH = [
    {},
    {"X-API-Key": "wrong"},
    {"X-API-Key": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"X-API-Key": "bzk_zz_"},
    {"X-API-Key": "bzk_" + "a" * 4_000},
    {"X-API-Key": "bzk_0123456789ab_" + "s" * 43},
]
API_KEY = "test-key-0123456789"  # tests/server/conftest.py's bootstrap key
GOOD = {"X-API-Key": API_KEY}


@pytest.fixture
def sweep_client(tmp_path, db_url, serving_model, settings_for):  # type: ignore[no-untyped-def]
    path, loader = serving_model
    Registry(tmp_path / "registry").register(path, "headlines")
    settings = settings_for(
        tmp_path, db_url, explain_per_minute=100_000, explain_budget=50, read_requires_key=True
    )
    app = create_app(settings, model_loader=loader)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/ready").status_code == 200  # the model is loaded: /v1/predict runs
        c.post("/v1/experiments", json={"name": "exp", "variants": [{"name": "a"}]}, headers=GOOD)
        read_key = c.app.state.keys.create(["read"], actor="test").key  # 403 on other routes
        yield c, str(tmp_path), read_key


def all_routes(routes: list[Any]) -> list[Any]:
    """``app.routes`` with included routers expanded (FastAPI keeps them as one entry)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out.extend(all_routes(inner.routes) if inner is not None else [route])
    return out


def _paths(route_path: str) -> list[str]:
    if "{" not in route_path:
        return [route_path]
    return [re.sub(r"\{[^}]+\}", value, route_path) for value in PATH_VALUES]


def _check(r: Any, where: str, secrets: list[str]) -> None:
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    text = r.text
    for word in [*ANYWHERE, *secrets]:
        assert word not in text, f"{where}: {word!r} in {text[:300]}"
    if r.status_code < 400:
        return
    body = r.json()
    assert set(body) == {"error", "detail"}, f"{where}: {body}"
    assert isinstance(body["detail"], str) and "\n" not in body["detail"]
    for word in IN_ERRORS:
        assert word not in text.lower(), f"{where}: {word!r} in {text[:300]}"
    assert "/" not in text, f"{where}: a path-like '/' in {text[:300]}"
    assert not SQL.search(text), f"{where}: SQL in {text[:300]}"
    assert not CLASS_NAME.search(text), f"{where}: a class name in {text[:300]}"


def test_every_route_with_bad_input_reveals_nothing(sweep_client) -> None:  # type: ignore[no-untyped-def]
    client, tmp, read_key = sweep_client
    secrets = [tmp, API_KEY, read_key]
    routes = [r for r in all_routes(client.app.routes) if getattr(r, "methods", None)]
    assert len([r for r in routes if isinstance(r, APIRoute)]) >= 12
    swept: set[tuple[str, str]] = set()
    for route in routes:
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for path in _paths(route.path):
                for auth in [*BAD_AUTH, {"X-API-Key": read_key}, {"X-API-Key": read_key + "x"}]:
                    r = client.request(method, path, headers=auth, json={"text": "x"})
                    _check(r, f"{method} {path} auth={auth}", secrets)
                for query in QUERIES:
                    r = client.request(method, path, headers=GOOD, params=query)
                    _check(r, f"{method} {path} ?{query}", secrets)
                if method in ("GET", "DELETE") and path != route.path:
                    continue  # no body to send beyond the path: done above
                for raw in MALFORMED:
                    headers = {**GOOD, "content-type": "application/json"}
                    r = client.request(method, path, headers=headers, content=raw)
                    _check(r, f"{method} {path} raw={raw[:20]!r}", secrets)
                for body in [*WRONG_TYPES, *HUGE, *UNKNOWN]:
                    content = json.dumps(body).encode()
                    headers = {**GOOD, "content-type": "application/json"}
                    r = client.request(method, path, headers=headers, content=content)
                    _check(r, f"{method} {path} body={content[:80]!r}", secrets)
            swept.add((route.path, method))
    api = {(r.path, m) for r in routes if isinstance(r, APIRoute) for m in r.methods}
    assert api <= swept | {(p, m) for p, m in api if m in ("HEAD", "OPTIONS")}


def test_malformed_json_names_no_offset(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/events",
        content=b'{"events": [1,2,',
        headers={**GOOD, "content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json() == {
        "error": "validation_error",
        "detail": "malformed JSON: the request body is not valid JSON",
    }


def test_field_names_are_the_clients(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/feedback",
        json={"prediction_id": "0" * 32, "correction": {"a": 1}},
        headers=GOOD,
    )
    detail = r.json()["detail"]
    assert r.status_code == 422 and detail.startswith("correction: "), detail
    assert "constrained" not in detail and "float" not in detail.split(":")[0]
    r = client.post("/v1/predict", json={"text_pair": "y"}, headers=GOOD)
    assert r.status_code == 422 and "give exactly one of 'text' or 'texts'" in r.json()["detail"]
    assert "function-after" not in r.json()["detail"]


def test_unknown_model_names_no_folder(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/predict", json={"text": "x", "model": "nope"}, headers=GOOD)
    assert r.status_code == 404  # (no model is being served at all here)
    exp = {"name": "mv", "model_name": "nope", "variants": [{"name": "a", "model_version": 1}]}
    r = client.post("/v1/experiments", json=exp, headers=GOOD)
    assert r.json() == {
        "error": "model_not_found_error",
        "detail": "variant 'a': no model named 'nope' with version 1",
    }


def test_unexpected_exception_is_a_json_500_without_details(client, caplog) -> None:  # type: ignore[no-untyped-def]
    def boom() -> None:
        raise RuntimeError("secret /srv/db.sqlite3 SELECT * FROM keys")

    client.app.state.store.list_experiments = boom
    r = TestClient(client.app, raise_server_exceptions=False).get("/v1/experiments")
    assert r.status_code == 500 and r.json() == {
        "error": "internal_error",
        "detail": "internal error; the server log has the details",
    }
    assert "SELECT * FROM keys" in caplog.text  # the log keeps the detail


def test_ready_hides_the_database_error(client, caplog) -> None:  # type: ignore[no-untyped-def]
    def broken(_table: str) -> int:
        raise RuntimeError("connection to 10.1.2.3:5432 refused (psycopg.OperationalError)")

    client.app.state.store.count = broken
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["database"] == "error: the event store does not answer"
    assert "10.1.2.3" in caplog.text and "10.1.2.3" not in r.text
