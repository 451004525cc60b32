"""Loaded models: one server process keeps at most ``[server] max_loaded_models`` versions in
memory across its tenants, unloads the least recently used and loads it again on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bizmodel.config import Settings
from bizmodel.registry import Registry
from bizmodel.server import create_app
from bizmodel.server.tenants import tenant_settings

OPERATOR = {"X-API-Key": "operator-key-0123"}
TEXTS = {  # the tiny model reads (company, headline) pairs
    "texts": ["Acme", "Globex"],
    "text_pairs": ["Shares jump after profit beats forecasts", "Bank warns of losses"],
}


def _hosted(tmp_path: Path, model_dir: str, capacity: int) -> Settings:
    host = tmp_path / "host"
    for name in ("acme", "globex"):
        (host / "tenants" / name).mkdir(parents=True)
        (host / "tenants" / name / "bizmodel.toml").write_text('[server]\nruntime = "torch"\n')
    (host / "bizmodel.toml").write_text(
        f'[tenants]\nacme = "tenants/acme"\nglobex = "tenants/globex"\n\n'
        f'[server]\nruntime = "torch"\nmax_loaded_models = {capacity}\n'
    )
    settings = Settings.load(host, env={}, api_keys=(OPERATOR["X-API-Key"],))
    for tenant in tenant_settings(settings).values():
        Registry(tenant.resolved_registry_dir()).register(model_dir, "headlines")
    return settings


def _loaded(client: TestClient) -> dict[str, list[tuple[str, int]]]:
    return {n: sorted(t.state.pool.models) for n, t in client.app.state.tenants.items()}


@pytest.mark.parametrize("capacity", [1, 0])
def test_the_least_recently_used_model_is_unloaded_and_loads_again(
    tmp_path: Path, serving_model: Any, capacity: int
) -> None:
    model_dir, load = serving_model
    loads: list[str] = []

    def loader(path: Any) -> Any:
        parts = Path(path).parts  # .../tenants/NAME/registry/...
        loads.append(parts[parts.index("tenants") + 1])
        return load(path)

    settings = _hosted(tmp_path, model_dir, capacity)
    with TestClient(create_app(settings, model_loader=loader)) as client:
        loads.clear()  # each tenant's lifespan loaded its default model
        answers = {}
        for tenant in ("acme", "globex", "acme"):
            r = client.post(f"/t/{tenant}/v1/predict", json=TEXTS, headers=OPERATOR)
            assert r.status_code == 200, r.text
            values = [p["value"] for p in r.json()["predictions"]]
            assert answers.setdefault(tenant, values) == pytest.approx(values, abs=1e-6)
        both = {"acme": [("headlines", 1)], "globex": [("headlines", 1)]}
        if capacity == 1:  # one model in memory at a time: each switch loads the other
            assert _loaded(client) == {"acme": [("headlines", 1)], "globex": []}
            assert loads == ["acme", "globex", "acme"]
        else:  # no limit: both stay
            assert _loaded(client) == both
            assert loads == []
        pool = client.app.state.tenants["acme"].state.pool
        assert len(pool.loaded) == (1 if capacity == 1 else 2)
        metrics = client.get("/t/acme/metrics", headers=OPERATOR).text
        loaded = 3.0 if capacity == 1 else 1.0  # at start-up, then again after globex
        assert f'bizmodel_model_loads_total{{model="headlines",version="1"}} {loaded}' in metrics
