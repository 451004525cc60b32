import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError, NotificationError
from bizmodel.monitor.alerts import (
    DriftRule,
    RelativeChangeRule,
    ThresholdRule,
    evaluate_rules,
    post_webhook,
    rules_from_dicts,
)
from bizmodel.monitor.drift import detect_drift
from bizmodel.monitor.kpi import compute_kpis


@pytest.fixture()
def kpis():
    # active users per day: 10, 5, 6 ; revenue 100, 100, 40
    rows = []
    for day, users, revenue in (("2026-03-01", 10, 100.0), ("2026-03-02", 5, 100.0),
                                ("2026-03-03", 6, 40.0)):  # fmt: skip
        for u in range(users):
            rows.append((len(rows), f"u{u}", "visit", None, f"{day} 12:00"))
        rows.append((len(rows), "u0", "purchase", revenue, f"{day} 13:00"))
    events = pd.DataFrame(rows, columns=["event_id", "user_id", "type", "value", "ts"])
    # the data is known complete up to the end of the last day
    return compute_kpis(
        events, kpis=["active_users", "revenue_usd", "churn_rate"], end="2026-03-04"
    )


def test_threshold_rule_latest_and_all_windows(kpis) -> None:
    rule = ThresholdRule("few users", "active_users", "<", 8, severity="critical")
    latest = evaluate_rules([rule], kpis=kpis)
    assert [(a.value, a.window_start) for a in latest] == [(6.0, "2026-03-03")]
    assert latest[0].message == ("few users: active_users = 6 < 8 in window 1D starting 2026-03-03")
    assert latest[0].severity == "critical" and latest[0].window == "1D"
    every = evaluate_rules([rule], kpis=kpis, all_windows=True)
    assert [a.window_start for a in every] == ["2026-03-02", "2026-03-03"]


def test_relative_change_directions(kpis) -> None:
    drop = RelativeChangeRule("revenue drop", "revenue_usd", threshold=0.5)
    (alert,) = evaluate_rules([drop], kpis=kpis)
    assert alert.value == pytest.approx(-0.6) and alert.threshold == 0.5
    rise = RelativeChangeRule("users up", "active_users", threshold=0.1, direction="rise")
    assert [a.value for a in evaluate_rules([rise], kpis=kpis)] == [pytest.approx(0.2)]
    anyway = RelativeChangeRule("users move", "active_users", threshold=0.3, direction="any")
    fired = evaluate_rules([anyway], kpis=kpis, all_windows=True)
    assert [a.value for a in fired] == [pytest.approx(-0.5)]


def test_nan_kpis_never_fire(kpis) -> None:
    rule = ThresholdRule("churn", "churn_rate", ">=", 0.0)
    assert [a.value for a in evaluate_rules([rule], kpis=kpis, all_windows=True)] == [0.0, 0.0]


def test_drift_rule_any_feature_or_one() -> None:
    rng = np.random.default_rng(0)
    ref = {"a": rng.normal(0, 1, 1000), "b": rng.normal(0, 1, 1000)}
    cur = {"a": rng.normal(0, 1, 1000), "b": rng.normal(1, 1, 1000)}
    drift = detect_drift(ref, cur)
    (alert,) = evaluate_rules([DriftRule("drift", metric="js", threshold=0.1)], drift=drift)
    assert alert.subject == "b" and alert.value == drift.feature("b").js
    assert "b drifted, JS = " in alert.message
    assert evaluate_rules([DriftRule("a only", feature="a", threshold=0.1)], drift=drift) == []


def test_rules_skip_missing_inputs_and_reject_unknown_kpis(kpis) -> None:
    assert evaluate_rules([DriftRule("d")], kpis=kpis) == []
    with pytest.raises(ConfigError, match="KPI 'dau' is not in the KPI report"):
        evaluate_rules([ThresholdRule("x", "dau", ">", 1)], kpis=kpis)


def test_rules_from_dicts_validates() -> None:
    rules = rules_from_dicts(
        [
            {
                "type": "threshold",
                "name": "slow",
                "kpi": "latency_p95_ms",
                "op": ">",
                "threshold": 200,
            },
            {"type": "relative_change", "name": "fall", "kpi": "active_users", "threshold": 0.2},
            {"type": "drift", "name": "drift", "metric": "js", "threshold": 0.2},
        ]
    )
    assert [type(r).__name__ for r in rules] == ["ThresholdRule", "RelativeChangeRule", "DriftRule"]
    with pytest.raises(ConfigError, match="type 'email' is not one of"):
        rules_from_dicts([{"type": "email"}])
    with pytest.raises(ConfigError, match="op '=>' is not one of"):
        rules_from_dicts(
            [{"type": "threshold", "name": "x", "kpi": "k", "op": "=>", "threshold": 1}]
        )
    with pytest.raises(ConfigError, match=r"alert rule 0 \(drift\): .*unexpected keyword"):
        rules_from_dicts([{"type": "drift", "name": "x", "kpi": "k"}])


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"body": json.loads(body), "content_type": self.headers["Content-Type"]}
        )
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture()
def hook_server() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_webhook_posts_json(hook_server, kpis) -> None:
    url, handler = hook_server
    alerts = evaluate_rules([ThresholdRule("few users", "active_users", "<", 8)], kpis=kpis)
    assert post_webhook(url, alerts) == 200
    (got,) = handler.received
    assert got["content_type"] == "application/json"
    assert got["body"] == {"alerts": [alerts[0].to_dict()]}
    assert got["body"]["alerts"][0]["rule"] == "few users"


def test_webhook_errors(hook_server) -> None:
    url, handler = hook_server
    handler.status = 500
    with pytest.raises(NotificationError, match="answered HTTP 500, expected 2xx"):
        post_webhook(url, [])
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    with pytest.raises(NotificationError, match="could not deliver"):
        post_webhook(f"http://127.0.0.1:{free}/hook", [], timeout_s=2)
