"""Simulated members against the real server: ``POST /v1/risk`` per arm-day, outreach decided
from the served probabilities, business events posted to ``/v1/events``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.templates.health.market import ProgrammeConfig, outreach_outcome


def member_events(frame: pd.DataFrame, ts: list[pd.Timestamp], price_usd: float) -> list[dict]:
    """Business events of one arm-day's members: signup, first monthly payment (``purchase``),
    ``outreach_call`` when called and ``engaged`` (value: the predicted-risk reduction)."""
    out: list[dict[str, Any]] = []
    for r, t in zip(frame.to_dict("records"), ts, strict=True):
        mid = str(r["member_id"])
        base = {"user_id": mid, "properties": {"arm": r["arm"], "band": r["band"]}}
        kinds: list[tuple[str, float | None, pd.Timedelta]] = [
            ("signup", None, pd.Timedelta(0)),
            ("purchase", price_usd, pd.Timedelta(minutes=5)),
        ]
        if r["contacted"]:
            kinds.append(("outreach_call", None, pd.Timedelta(hours=2)))
        if r["engaged"]:
            kinds.append(("engaged", float(r["predicted_reduction"]), pd.Timedelta(hours=3)))
        for kind, value, delay in kinds:
            out.append(
                {
                    **base,
                    "type": kind,
                    "value": value,
                    "ts": (t + delay).isoformat(),
                    "client_event_id": f"{mid}-{kind}",
                }
            )
    return out


def drive_members(
    settings: Settings,
    key: str,
    config: ProgrammeConfig,
    arm_days: pd.DataFrame,
    members: pd.DataFrame,
    seed: int,
    show_progress: bool,
) -> pd.DataFrame:
    """POST each arm-day's new members to /v1/risk, decide outreach, POST the events.

    Returns one row per member: arm, day, served probability and band, contacted, engaged,
    predicted and true risk reduction.
    """
    from tqdm.auto import tqdm

    from bizmodel.client import Client
    from bizmodel.flywheel.serving import running_server

    rng = np.random.default_rng(seed + 7)
    rows: list[pd.DataFrame] = []
    events: list[dict[str, Any]] = []
    pos = 0
    with (
        running_server(settings) as url,
        Client(url, key, timeout_s=300) as client,
    ):
        for ad in tqdm(
            arm_days.to_dict("records"),
            total=len(arm_days),
            desc="arm-days",
            disable=not show_progress,
        ):
            n = int(ad["new_users"])
            if n == 0:
                continue
            day = members.iloc[pos : pos + n]
            pos += n
            ts = [
                pd.Timestamp(ad["date"]) + pd.Timedelta(seconds=int(s))
                for s in np.sort(rng.integers(0, 20 * 3600, n))
            ]
            records = day.drop(columns=["event", "true_risk"]).to_dict("records")
            answers: list[dict[str, Any]] = []
            for i in range(0, n, 256):
                body = {"members": records[i : i + 256], "ts": ts[i].isoformat()}
                answers += client.request("POST", "/v1/risk", json=body)["results"]
            prob = np.array([a["probability"] for a in answers])
            out = outreach_outcome(
                prob, day["true_risk"].to_numpy(), float(ad["outreach_usd"]), config, rng
            )
            frame = pd.DataFrame(
                {
                    "member_id": day["member_id"].to_numpy(),
                    "arm": ad["arm"],
                    "day": ad["day"],
                    "date": str(pd.Timestamp(ad["date"]).date()),
                    "probability": prob,
                    "band": [a["band"] for a in answers],
                    "true_risk": day["true_risk"].to_numpy(),
                    **out,
                }
            )
            rows.append(frame)
            events += member_events(frame, ts, float(ad["price_usd"]))
        client.send_events(events)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


__all__ = ["drive_members", "member_events"]
