"""``POST /v1/risk``: calibrated risk, band, advice and the disclaimer for member records.

API-key protected like every write endpoint (``X-API-Key`` or ``Authorization: Bearer``).
Bad input gets a 422 JSON body naming the field (``members.0.bmi: ...``); a project that has not
been trained yet gets a 409 saying to run ``bizmodel run``. ``name``, ``email`` and ``phone``
are accepted (clients often send whole records) but dropped before scoring; the prediction log
in the event store holds the structured fields and the *scrubbed* notes only.

Example request body::

    {"members": [{"member_id": "M1", "age": 58, "bmi": 31.2, "systolic_bp": 146,
                  "smoker": true, "activity_days": 1,
                  "notes": "reports chest pain when walking uphill"}]}
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request  # this module loads only when serving
from pydantic import BaseModel, ConfigDict, Field

from bizmodel.config import Settings
from bizmodel.templates.health.advice import DISCLAIMER
from bizmodel.templates.health.data import NUMERIC_FIELDS

_R = NUMERIC_FIELDS
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_MEMBERS = 256


class MemberIn(BaseModel):
    """One member record."""

    model_config = ConfigDict(extra="forbid")

    member_id: Annotated[str | None, Field(pattern=_ID)] = None
    age: Annotated[float, Field(ge=_R["age"][0], le=_R["age"][1], allow_inf_nan=False)]
    bmi: Annotated[float, Field(ge=_R["bmi"][0], le=_R["bmi"][1], allow_inf_nan=False)]
    systolic_bp: Annotated[
        float, Field(ge=_R["systolic_bp"][0], le=_R["systolic_bp"][1], allow_inf_nan=False)
    ]
    smoker: bool
    activity_days: Annotated[int, Field(ge=0, le=7)]
    notes: Annotated[str, Field(max_length=4000)] = ""
    name: Annotated[str | None, Field(max_length=200)] = None  # dropped, never stored
    email: Annotated[str | None, Field(max_length=200)] = None  # dropped, never stored
    phone: Annotated[str | None, Field(max_length=64)] = None  # dropped, never stored


class RiskRequest(BaseModel):
    """A batch of member records (1 to 256) and an optional event time for replays."""

    model_config = ConfigDict(extra="forbid")

    members: Annotated[list[MemberIn], Field(min_length=1, max_length=MAX_MEMBERS)]
    ts: datetime | None = None


class RiskAnswer(BaseModel):
    member_id: str | None
    probability: float
    band: str
    advice: list[str]
    disclaimer: str


class RiskResponse(BaseModel):
    results: list[RiskAnswer]
    model: dict[str, Any]
    disclaimer: str


def risk_router(settings: Settings) -> APIRouter:
    """The template's APIRouter; the model loads on the first request and is kept."""
    from bizmodel.server.routes import require_key
    from bizmodel.templates.health.service import RiskService

    router = APIRouter(tags=["health"])
    lock = threading.Lock()
    cache: dict[str, RiskService] = {}

    def service() -> RiskService:
        with lock:
            if "svc" not in cache:
                cache["svc"] = RiskService.load(settings)
            return cache["svc"]

    @router.post("/v1/risk", response_model=RiskResponse, dependencies=[Depends(require_key)])
    def risk(body: RiskRequest, request: Request) -> dict[str, Any]:
        """Calibrated 12-month event risk, band and advice per member. Not medical advice."""
        t0 = time.perf_counter()
        svc = service()
        answers, clean = svc.score([m.model_dump() for m in body.members])
        latency = 1000.0 * (time.perf_counter() - t0) / len(answers)
        ref = svc.spec.get("notes_model") or {}
        request.app.state.store.log_predictions(
            [
                {
                    "model_name": "health-risk",
                    "model_version": int(ref.get("version", 1)),
                    "inputs": {k: v for k, v in rec.items() if v is not None},
                    "output": {"value": a["probability"], "band": a["band"]},
                    "latency_ms": latency,
                    "cost_usd": svc.usd_per_member,
                    "user_id": a["member_id"],
                    "ts": body.ts,
                }
                for rec, a in zip(clean, answers, strict=True)
            ]
        )
        return {
            "results": answers,
            "model": {
                "notes_model": f"{ref['name']} v{ref['version']}" if ref else None,
                "calibration": svc.calibrator.method,
                "bands": dict(zip(svc.bands, [0.0, *svc.cutoffs], strict=True)),
            },
            "disclaimer": DISCLAIMER,
        }

    return router


__all__ = ["MAX_MEMBERS", "MemberIn", "RiskRequest", "risk_router"]
