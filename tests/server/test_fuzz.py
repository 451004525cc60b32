"""Schemathesis over the app's own OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bizmodel.config import ServerSettings, Settings
from bizmodel.registry import Registry
from bizmodel.server import create_app
from bizmodel.store import EventStore

KEY = "fuzz-key"
CALLS: list[str] = []


@pytest.fixture
def api_schema(tmp_path, db_url, serving_model):  # type: ignore[no-untyped-def]
    # With a model served, /ready is 200 and /v1/predict is exercised end to end.
    path, loader = serving_model
    Registry(tmp_path / "registry").register(path, "headlines")
    s = Settings.load(
        project_dir=tmp_path,
        env={},
        database_url=db_url,
        api_keys=(KEY,),
        # /v1/explain: at most 24 model evaluations per request keeps the fuzzing fast.
        server=ServerSettings(
            max_body_bytes=64_000, runtime="torch", max_wait_ms=1, explain_budget=24
        ),
    )
    store = EventStore.open(db_url)
    store.create_experiment("exp", [{"name": "a"}, {"name": "b"}], salt="s")
    store.close()
    app = create_app(s, model_loader=loader)
    # schemathesis starts the app's lifespan itself on first call; stop it before the database
    # is dropped.
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
def test_no_server_errors_and_schema_conformance(api_schema) -> None:  # type: ignore[no-untyped-def]
    # schemathesis' pytest plugin (from_fixture) does not run under pytest 9 here, so each
    # operation's strategy is driven by Hypothesis directly: bounded examples per operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    CALLS.clear()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS)
            CALLS.append(f"{case.method} {case.path}")

        run()
    assert len(set(CALLS)) == len(operations)  # every operation was exercised
