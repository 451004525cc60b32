"""A small project built through the library's own APIs: events and exposures in the store,
the tiny fine-tune in the registry, the packaged SaaS spec as the business plan."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

METRICS_TOML = """
[metrics]
converted = { type = "any", event = "purchase", within_days = 30 }
revenue_usd = { type = "sum", event = "purchase" }
"""

ANALYSIS = {
    "growth": {
        "x": [100.0, 200.0, 100.0, 200.0],
        "y": [10.0, 14.0, 8.0, 12.0],
        "group": ["arm a", "arm a", "arm b", "arm b"],
        "curve_x": [100.0, 150.0, 200.0],
        "mean": [9.0, 11.0, 13.0],
        "lower": [8.0, 10.0, 12.0],
        "upper": [10.0, 12.0, 14.0],
        "x_label": "daily ad spend (USD)",
    },
    "pareto": {
        "front": [
            {"users": 100.0, "profit_usd": 50.0, "model": "large", "price_usd": 9.5},
            {"users": 80.0, "profit_usd": 90.0, "model": "small", "price_usd": 14.0},
        ],
        "chosen": {"users": 80.0, "profit_usd": 90.0, "model": "small", "price_usd": 14.0},
        "x": "users",
        "y": "profit_usd",
        "label": "model",
    },
}
END = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)  # the day after the last event


def _events() -> list[dict[str, Any]]:
    """60 days of growing traffic (3 sign-ups a day, one more every 10 days); arm b buys more
    often and for more."""
    out: list[dict[str, Any]] = []
    for day in range(60):
        ts = END - dt.timedelta(days=60 - day, hours=-10)
        for j in range(3 + day // 10):
            user = f"u{day}-{j}"
            arm = "ab"[j % 2]
            out.append({"user_id": user, "type": "signup", "ts": ts.isoformat()})
            out.append(
                {
                    "user_id": user,
                    "type": "page_view",
                    "ts": ts.isoformat(),
                    "experiment": "checkout",
                    "variant": arm,
                    "properties": {"arm": arm},
                }
            )
            if j % 3 == 0 or (arm == "b" and day % 2 == 0):
                buy = ts + dt.timedelta(hours=1)
                value = 9.99 if arm == "a" else 12.49
                out.append(
                    {"user_id": user, "type": "purchase", "value": value, "ts": buy.isoformat()}
                )
    return out


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    from bizmodel.config import Settings
    from bizmodel.inference.cost import fixed_inference_cost
    from bizmodel.optimize import example_spec_path
    from bizmodel.registry import Registry
    from bizmodel.report.project import write_analysis
    from bizmodel.store import EventStore

    pdir = tmp_path_factory.mktemp("webapp-project")
    (pdir / "bizmodel.toml").write_text(METRICS_TOML, encoding="utf-8")
    shutil.copy(example_spec_path("saas"), pdir / "business_spec.toml")
    write_analysis(pdir, ANALYSIS)  # what a flywheel run saves: growth curve and Pareto front
    settings = Settings.load(pdir)
    store = EventStore.open(settings.resolved_database_url())
    try:
        store.create_experiment(
            "checkout",
            [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
            description="New checkout page",
        )
        store.create_experiment(
            "pricing", [{"name": "p10", "weight": 1}, {"name": "p15", "weight": 1}]
        )
        store.add_events(_events())
    finally:
        store.close()
    registry = Registry(settings.resolved_registry_dir())
    mv = registry.register(
        tiny_model_dir, "advisor", measure=lambda d: fixed_inference_cost(2.0, source="test")
    )
    registry.promote("advisor", mv.version, "production")
    return pdir


@pytest.fixture()
def client(project: Path) -> Any:
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.webapp import create_app

    with TestClient(create_app(Settings.load(project))) as c:
        yield c


SHORT = ["Acme beats", "Globex slips", "Initech rallies", "Umbrella falls"]
LONG = [
    "Acme beats every analyst estimate as cloud revenue doubles and margins widen again",
    "Globex slips after regulators open a broad inquiry into its accounting of leases",
    "Initech rallies on a surprise buyback and a raised outlook for the coming fiscal year",
    "Umbrella falls as a recall widens to three more product lines across two continents",
]
ADMIN_KEY = "webapp-admin-key"


@pytest.fixture(scope="session")
def api_project(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    """A project whose store holds only what was posted to the HTTP API: the checkout
    experiment, 60 days of events, 14 days of predictions (short headlines in the first week,
    long ones in the second: text-length drift) with feedback on every third one."""
    from fastapi.testclient import TestClient

    from bizmodel.config import Settings
    from bizmodel.inference.cost import fixed_inference_cost
    from bizmodel.registry import Registry
    from bizmodel.server.app import create_app

    pdir = tmp_path_factory.mktemp("webapp-api-project")
    (pdir / "bizmodel.toml").write_text(METRICS_TOML, encoding="utf-8")
    settings = Settings.load(pdir, api_keys=(ADMIN_KEY,))
    registry = Registry(settings.resolved_registry_dir())
    mv = registry.register(
        tiny_model_dir, "advisor", measure=lambda d: fixed_inference_cost(2.0, source="test")
    )
    registry.promote("advisor", mv.version, "production")
    headers = {"X-API-Key": ADMIN_KEY}
    with TestClient(create_app(settings)) as api:
        r = api.post(
            "/v1/experiments",
            json={"name": "checkout", "variants": [{"name": "a"}, {"name": "b"}]},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        events = _events()
        for i in range(0, len(events), 1000):
            r = api.post("/v1/events", json={"events": events[i : i + 1000]}, headers=headers)
            assert r.status_code == 200, r.text
        for day in range(46, 60):  # the last 14 days
            ts = END - dt.timedelta(days=60 - day, hours=-12)
            texts = (SHORT if day < 53 else LONG) * 3
            for j, user in enumerate((f"u{day}-0", f"u{day}-1")):  # arms a and b
                body = {"texts": texts, "text_pairs": ["Acme"] * len(texts)}
                body.update(user_id=user, ts=ts.isoformat())
                r = api.post("/v1/predict", json=body, headers=headers)
                assert r.status_code == 200, r.text
                for k, p in enumerate(r.json()["predictions"]):
                    if k % 3 == j:
                        fb = {"prediction_id": p["id"], "correction": 0.5}
                        fb["ts"] = (ts + dt.timedelta(hours=1)).isoformat()
                        r2 = api.post("/v1/feedback", json=fb, headers=headers)
                        assert r2.status_code == 201, r2.text
    return pdir


@pytest.fixture(scope="session")
def project_events() -> list[dict[str, Any]]:
    """The events both projects hold (to count by hand what a page should show)."""
    return _events()


@pytest.fixture(scope="session")
def api_texts() -> tuple[list[str], list[str]]:
    """The headlines ``api_project`` predicted on: the first week's, the second week's."""
    return SHORT, LONG


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's market (``bizmodel.simulate.market``: four arms of price and model, users
    who sign up, visit, buy and churn, a model scoring their headlines, feedback), 14 days,
    headlines drifting to the long style from day 7, written into a project's store."""
    from bizmodel.config import Settings
    from bizmodel.simulate.market import MarketConfig, simulate_market
    from bizmodel.store import EventStore
    from bizmodel.store.schema import feedback

    market = simulate_market(
        MarketConfig(days=14, seed=0, long_text_from_day=7, ad_spend_usd_range=(50.0, 150.0))
    )
    pdir = tmp_path_factory.mktemp("webapp-demo-project")
    store = EventStore.open(Settings.load(pdir).resolved_database_url())
    try:
        ev = market.events
        store.add_events(
            {
                "user_id": str(r.user_id),
                "type": r.type,
                "value": None if r.value != r.value else float(r.value),  # NaN: no value
                "ts": r.ts.floor("us").to_pydatetime(),
                "properties": {"arm": r.arm},
            }
            for r in ev.itertuples()
        )
        pr = market.predictions
        ids = store.log_predictions(
            [
                {
                    "model_name": r.model_name,
                    "model_version": 1 if r.model_version == "small" else 2,
                    "inputs": {"text": r.text},
                    "output": {"value": float(r.output)},
                    "latency_ms": float(r.latency_ms),
                    "cost_usd": float(r.cost_usd),
                    "user_id": str(r.user_id),
                    "ts": r.ts.floor("us").to_pydatetime(),
                }
                for r in pr.itertuples()
            ]
        )
        by_sim_id = dict(zip(pr["prediction_id"], ids, strict=True))
        rows = [
            {
                "prediction_id": by_sim_id[r.prediction_id],
                "rating": float(r.rating),
                "correction": float(r.label),
                "ts": r.ts.floor("us").to_pydatetime(),
            }
            for r in market.feedback.itertuples()
        ]
        with store.engine.begin() as conn:  # one transaction (add_feedback is one per call)
            conn.execute(feedback.insert(), rows)
    finally:
        store.close()
    return pdir
