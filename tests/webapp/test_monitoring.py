"""The Monitoring page on a project fed only through the HTTP API: drift per feature with the
numbers of ``bizmodel monitor --json``, the bins PSI compares, and KPI panels only with data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.spatial.distance import jensenshannon

from bizmodel.cli import run
from bizmodel.config import Settings
from bizmodel.webapp import create_app
from bizmodel.webapp.monitoring import drift_bins


@pytest.fixture()
def api_client(api_project: Path) -> Any:
    with TestClient(create_app(Settings.load(api_project))) as c:
        yield c


def _features(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in body["features"]}


def test_drift_equals_monitor_json_and_flags_longer_texts(api_client, api_project, capsys) -> None:
    body = api_client.get("/api/monitoring", params={"days": 7}).json()
    assert body["current_period"] == ["2026-03-24T00:00:00+00:00", "2026-03-31T00:00:00+00:00"]
    capsys.readouterr()
    argv = ["monitor", "--project", str(api_project), "--since", "2026-03-24"]
    assert run([*argv, "--until", "2026-03-31", "--window", "1D", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    [cli_output] = [f for f in cli["drift"]["features"] if f["name"] == "model_output"]
    feats = _features(body)
    page_output = {k: feats["model_output"][k] for k in cli_output}
    assert page_output == cli_output  # the same function on the same rows
    # 7 days x 2 requests x 12 headlines on each side; the second week's are longer
    assert feats["model_output"]["n_reference"] == feats["model_output"]["n_current"] == 168
    for name in ("length_chars", "length_tokens"):
        assert feats[name]["severity"] == "major"
        assert feats[name]["verdict"] == {
            "passed": False,
            "text": "fail: major drift",
            "psi_threshold": 0.1,
            "js_threshold": 0.1,
        }
    assert feats["length_tokens"]["reference_mean"] == pytest.approx(2.0)
    assert "input drift (major)" in {a["rule"] for a in body["alerts"]}


def test_histograms_are_the_bins_psi_compares(api_client) -> None:
    feats = _features(api_client.get("/api/monitoring", params={"days": 7}).json())
    for f in feats.values():
        r, c = np.array(f["bins"]["reference"]), np.array(f["bins"]["current"])
        assert r.sum() == pytest.approx(1.0) and c.sum() == pytest.approx(1.0)
        assert len(f["bins"]["labels"]) == r.size == c.size
        # PSI from its formula (shares floored at 1e-4) and JS from scipy, on the page's bins
        rc, cc = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
        assert float(np.sum((cc - rc) * np.log(cc / rc))) == pytest.approx(f["psi"], rel=1e-9)
        assert float(jensenshannon(r, c, base=2)) == pytest.approx(f["js"], abs=1e-9)


def test_drift_bins_by_category() -> None:
    b = drift_bins(["pos", "neg"] * 5, ["pos"] * 10)
    assert b == {"labels": ["neg", "pos"], "reference": [0.5, 0.5], "current": [0.0, 1.0]}


def test_kpi_panels_only_where_they_apply(api_client) -> None:
    body = api_client.get("/api/monitoring", params={"days": 7}).json()
    names = [p["name"] for p in body["panels"]]
    # a regression model with numeric corrections: an error panel, no accuracy panel
    assert "live_mae" in names and "live_accuracy" not in names
    assert names[0] == "prediction_volume" and body["panels"][0]["latest"] == 24
    html = api_client.get("/monitoring", params={"days": 7}).text
    assert 'id="chart-drift-length_chars"' in html and 'id="chart-kpi-live_mae"' in html
    assert "chart-kpi-live_accuracy" not in html and "fail: major drift" in html


def test_filters_change_the_numbers(api_client) -> None:
    def output(**params: Any) -> dict[str, Any]:
        return _features(api_client.get("/api/monitoring", params=params).json())["model_output"]

    everyone = output(days=7)
    arm_b = output(days=7, segment="checkout=b")  # one of the two users a day
    assert (arm_b["n_reference"], arm_b["n_current"]) == (84, 84)
    volume = {
        seg: api_client.get("/api/monitoring", params={"days": 7, "segment": seg}).json()["panels"][
            0
        ]
        for seg in ("", "checkout=b")
    }
    assert volume[""]["name"] == volume["checkout=b"]["name"] == "prediction_volume"
    assert (volume[""]["latest"], volume["checkout=b"]["latest"]) == (24, 12)
    same = output(**{"from": "2026-03-24", "to": "2026-03-30"})  # the same 7 days, by hand
    assert same == everyone
    six = output(**{"from": "2026-03-25", "to": "2026-03-30"})
    assert (six["n_reference"], six["n_current"]) == (144, 144)


def test_no_predictions_no_drift_and_no_model_panels(api_client) -> None:
    # 30 days before the first prediction: events only
    params = {"from": "2026-02-01", "to": "2026-03-02"}
    body = api_client.get("/api/monitoring", params=params).json()
    assert body["features"] == [] and body["panels"] == [] and body["served"] is False
    assert (
        "No prediction was served in this period"
        in api_client.get("/monitoring", params=params).text
    )


def test_embedding_drift_on_request(api_client, api_texts) -> None:
    from bizmodel.monitor.drift import embedding_drift
    from bizmodel.webapp.embeddings import sentence_embedder

    html = api_client.get("/monitoring", params={"days": 7}).text
    assert "embeddings=1" in html and "drift-embedding" not in html  # off until asked for
    body = api_client.get("/api/monitoring", params={"days": 7, "embeddings": "1"}).json()
    page = _features(body)["embedding"]
    # the library on the same texts: each request sent 3 x the 4 headlines of its week
    short, long = api_texts
    embed = sentence_embedder()
    lib = embedding_drift(embed(short * 42), embed(long * 42)).to_dict()
    assert page["details"] == pytest.approx(lib.pop("details"))
    assert {k: page[k] for k in lib} == pytest.approx(lib)
    assert page["severity"] == "major" and page["n_current"] == 168 and page["bins"] is None
    # mean pooling: a text's row is the masked mean of its token states, one row per text
    rows = embed(["Acme beats", "Acme beats", "Globex slips"])
    assert rows.shape == (3, 384) and np.array_equal(rows[0], rows[1])
