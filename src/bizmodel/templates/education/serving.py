"""Drive the real HTTP server of an education project: ``/v1/predict`` for the fine-tuned
model's next-answer probabilities, ``/v1/feedback`` with the true answers, ``/v1/recommend``
for held-out learners, ``/v1/events`` for the simulated subscribers."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bizmodel.config import Settings

PREDICT_BATCH = 64


def drive_server(
    settings: Settings,
    *,
    eval_texts: list[str],
    eval_rows: pd.DataFrame,
    test: pd.DataFrame,
    events: pd.DataFrame,
    api_calls: int,
    band: tuple[float, float],
) -> dict[str, Any]:
    """Send everything through a server on 127.0.0.1; return the model's ``P(right)`` per
    evaluation row, the number of ``/v1/recommend`` calls and the share of in-band items."""
    from bizmodel.client import Client
    from bizmodel.flywheel.serving import post_events, running_server

    last = pd.Timestamp(events["ts"].max()) if len(events) else pd.Timestamp.now(tz="UTC")
    p_right: list[float] = []
    in_band = total = 0
    with (
        running_server(settings) as url,
        Client(url, settings.api_keys[0], timeout_s=120) as client,
    ):
        ids: list[str] = []
        for i in range(0, len(eval_texts), PREDICT_BATCH):
            answer = client.predict(eval_texts[i : i + PREDICT_BATCH], ts=last)
            for p in answer["predictions"]:
                p_right.append(float(p["probabilities"]["right"]))
                ids.append(p["id"])
        for pid, correct in zip(ids, eval_rows["correct"], strict=True):
            client.feedback(pid, correction="right" if correct else "wrong", ts=last)
        learners = test["learner_id"].drop_duplicates().tolist()[:api_calls]
        for learner in learners:
            rows = test[test["learner_id"] == learner]
            body = {
                "learner_id": learner,
                "history": rows[["skill", "item_id", "correct"]].to_dict("records"),
                "n": 3,
                "band": list(band),
            }
            answer = client.request("POST", "/v1/recommend", json=body)
            in_band += sum(bool(it["in_band"]) for it in answer["items"])
            total += len(answer["items"])
        post_events(client, events)
    return {
        "p_right": p_right,
        "recommend_calls": len(learners),
        "in_band_share": in_band / total if total else float("nan"),
    }


__all__ = ["drive_server"]
