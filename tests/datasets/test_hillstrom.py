"""The Hillstrom event log: the flat file read back from it, valid API bodies, a project that
declares what the log holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.datasets.hillstrom import (
    ARMS,
    LEVERS,
    PROJECT_TOML,
    START,
    hillstrom_api_events,
    hillstrom_event_log,
)


def shaped_like_hillstrom(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visit = (rng.random(n) < 0.3).astype(int)
    conversion = visit * (rng.random(n) < 0.4)
    return pd.DataFrame(
        {
            "segment": np.array(list(ARMS))[rng.integers(0, 3, n)],
            "visit": visit,
            "conversion": conversion,
            "spend": np.round(conversion * rng.lognormal(4, 0.5, n), 2),
        }
    )


def test_the_flat_file_is_read_back_from_the_log() -> None:
    """Per customer, the log's exposure arm, any visit, any purchase and its amount within
    14 days of the exposure are the file's segment, visit, conversion and spend."""
    df = shaped_like_hillstrom()
    log = hillstrom_event_log(df)
    exposed = log[log["event"] == "exposure"].set_index("customer")
    assert list(exposed.index) == [f"c{i}" for i in range(len(df))]
    assert list(exposed["arm"]) == [ARMS[s] for s in df["segment"]]
    # exposures spread evenly over two weeks from START, in the file's order
    assert exposed["time"].iloc[0] == START
    assert exposed["time"].is_monotonic_increasing
    assert exposed["time"].iloc[-1] < START + timedelta(days=14)
    after = log.join(exposed["time"].rename("exposed_at"), on="customer")
    after = after[after["event"] != "exposure"]
    assert ((after["time"] > after["exposed_at"]) & (after["time"] - after["exposed_at"] <
            timedelta(days=14))).all()  # fmt: skip
    back = pd.DataFrame(
        {
            "visit": (after["event"] == "visit").groupby(after["customer"]).sum(),
            "conversion": (after["event"] == "purchase").groupby(after["customer"]).sum(),
            "spend": after["amount"].fillna(0.0).groupby(after["customer"]).sum(),
        }
    ).reindex(exposed.index, fill_value=0)
    assert back["visit"].tolist() == df["visit"].tolist()  # at most one of each
    assert back["conversion"].tolist() == df["conversion"].tolist()
    np.testing.assert_allclose(back["spend"].to_numpy(float), df["spend"].to_numpy(float))


def test_api_events_are_valid_post_bodies_of_the_same_rows() -> None:
    from bizmodel.server.schemas import EventsRequest

    log = hillstrom_event_log(shaped_like_hillstrom(30))
    events = hillstrom_api_events(log, experiment="spring")
    parsed = EventsRequest.model_validate({"events": events}).events
    assert [e.ts for e in parsed] == [t.to_pydatetime() for t in log["time"]]
    assert [e.type for e in parsed] == list(log["event"])
    assert [e.variant for e in parsed] == [a if isinstance(a, str) else None for a in log["arm"]]
    assert {e.experiment for e in parsed if e.variant} == {"spring"}
    assert [e.value or 0.0 for e in parsed] == list(log["amount"].fillna(0.0))
    assert len({e.client_event_id for e in parsed}) == len(log)  # each row its own id


def test_the_project_declares_the_arms_levers_and_metrics_of_the_log(tmp_path: Path) -> None:
    (tmp_path / "bizmodel.toml").write_text(PROJECT_TOML, encoding="utf-8")
    settings = Settings.load(tmp_path, env={})
    email = settings.experiments["email"]
    assert email.arms == LEVERS and email.control_arm == "control"
    assert set(email.arms) == set(ARMS.values())
    assert {m.event for m in settings.metrics.values()} == {"visit", "purchase"}
