"""Exposures over HTTP: ``/v1/assign?ts=`` for history, events carrying experiment and variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizmodel.cli import run

H = {"X-API-Key": "test-key-0123456789"}
EXP = {"name": "email", "variants": [{"name": "control"}, {"name": "mens"}], "salt": "s"}


def _project(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "shop"
    path.mkdir()
    (path / "bizmodel.toml").write_text(
        f'database_url = "{db_url}"\n[metrics]\nbought = {{ type = "any", event = "purchase" }}\n'
    )
    return path


def test_a_naive_assignment_time_is_a_422(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/experiments", json=EXP, headers=H).status_code == 201
    params = {"experiment": "email", "user_id": "u1", "ts": "2025-03-01T09:00:00"}
    r = client.get("/v1/assign", params=params, headers=H)
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    assert r.json()["detail"].startswith("ts: ") and "timezone" in r.json()["detail"]
    assert client.app.state.store.assignments("email") == []


def test_historical_assignments_count_historical_events_after_exposure(
    client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert client.post("/v1/experiments", json=EXP, headers=H).status_code == 201
    users = [f"u{i}" for i in range(40)]
    arms = {}
    for u in users:
        params = {"experiment": "email", "user_id": u, "ts": "2025-03-01T09:00:00+01:00"}
        r = client.get("/v1/assign", params=params, headers=H)
        assert r.status_code == 200
        arms[u] = r.json()["variant"]
    again = client.get("/v1/assign", params={"experiment": "email", "user_id": "u0"}, headers=H)
    assert again.json()["variant"] == arms["u0"]  # sticky; the live call keeps the old time
    [first] = [a for a in client.app.state.store.assignments("email") if a["user_id"] == "u0"]
    assert first["ts"].isoformat() == "2025-03-01T08:00:00+00:00"
    buyers = users[::2]
    body = {"events": [{"user_id": u, "type": "purchase", "ts": "2025-03-02T00:00:00Z"}
                       for u in buyers]}  # fmt: skip
    assert client.post("/v1/events", json=body, headers=H).json()["inserted"] == len(buyers)
    project = _project(tmp_path, db_url)
    args = ["ab-test", "--project", str(project), "--experiment", "email", "--metric", "bought"]
    assert run([*args, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)  # one metric: one result
    assert res["data_quality"]["events_before_exposure"] == 0
    by_arm = {a["name"]: a for a in res["arms"]}
    for arm in ("control", "mens"):
        members = [u for u in users if arms[u] == arm]
        assert by_arm[arm]["n"] == len(members)
        assert by_arm[arm]["mean"] == pytest.approx(
            sum(u in buyers for u in members) / len(members), abs=1e-12
        )


def test_events_with_experiment_and_variant_are_exposures(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/experiments", json=EXP, headers=H).status_code == 201
    ev = {"user_id": "u1", "type": "exposure", "experiment": "email", "variant": "mens",
          "ts": "2025-03-01T09:00:00Z"}  # fmt: skip
    r = client.post("/v1/events", json={"events": [ev]}, headers=H)
    assert r.status_code == 200 and r.json()["inserted"] == 1
    [a] = client.app.state.store.assignments("email")
    assert (a["user_id"], a["variant"], a["ts"].isoformat()) == (
        "u1",
        "mens",
        "2025-03-01T09:00:00+00:00",
    )
    r = client.post("/v1/events", json={"events": [{**ev, "variant": "womens"}]}, headers=H)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "event 0: variant 'womens' is not an arm of experiment 'email'; its arms: control, mens"
    )
    r = client.post("/v1/events", json={"events": [{**ev, "variant": None}]}, headers=H)
    assert r.status_code == 422 and "'experiment' and 'variant' go together" in r.json()["detail"]
    assert client.app.state.store.count("events") == 1
