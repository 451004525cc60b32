"""``POST /v1/recommend``: a learner's history → mastery per skill and the next items.

Mounted by ``bizmodel serve`` in an education project (API key required, like every write
endpoint). It reads the BKT parameters that ``bizmodel run`` fitted
(``education/bkt_params.json``) and the item bank (``data/items.csv``); before the first run it
answers 409 ``not_fitted``. Bad input is a 422 JSON body whose detail names the history row and
field; the endpoint never answers 5xx for anything a client sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.errors import ConfigError, DataError, NotFittedError
from bizmodel.templates.education.bkt import BKTParams
from bizmodel.templates.education.recommend import (
    DEFAULT_BAND,
    check_band,
    mastery,
    recommend,
    validate_history,
)

PARAMS_FILE = Path("education") / "bkt_params.json"
ITEMS_FILE = Path("data") / "items.csv"
MAX_HISTORY = 10_000


def load_state(project_dir: Path) -> tuple[dict[str, BKTParams], Any]:
    """The fitted parameters (curriculum order) and the item bank of the project.

    Raises
    ------
    NotFittedError
        ``bizmodel run`` has not written the parameters yet.
    DataError
        The parameter file is not valid.
    """
    import pandas as pd

    path = project_dir / PARAMS_FILE
    if not path.is_file():
        raise NotFittedError(
            f"no fitted BKT parameters at {path}; run `bizmodel run` in {project_dir} first"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        params = {s: BKTParams(**v) for s, v in raw["fitted"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"not a valid parameter file: {exc}", file=str(path)) from None
    items_path = project_dir / ITEMS_FILE
    if not items_path.is_file():
        raise NotFittedError(f"no item bank at {items_path}; the project folder is incomplete")
    items = pd.read_csv(items_path, dtype=str)
    return params, items


def recommend_for(
    body: dict[str, Any], project_dir: Path, *, default_band: Any = DEFAULT_BAND
) -> dict[str, Any]:
    """The endpoint's logic, without HTTP: validate ``body``, trace mastery, pick items."""
    if not isinstance(body, dict):
        raise DataError(f"expected a JSON object with 'history', got {type(body).__name__}")
    unknown = sorted(set(body) - {"history", "n", "band", "learner_id"})
    if unknown:
        raise DataError(f"unknown field(s) {unknown}; valid: band, history, learner_id, n")
    history = body.get("history")
    if not isinstance(history, list):
        raise DataError("field 'history': expected a list of {skill, correct[, item_id]} rows")
    if len(history) > MAX_HISTORY:
        raise DataError(f"field 'history': {len(history)} rows; at most {MAX_HISTORY}")
    n = body.get("n", 3)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 50:
        raise DataError(f"field 'n': expected an integer in [1, 50], got {n!r}")
    band_raw = body.get("band", default_band)
    if not isinstance(band_raw, list | tuple):
        raise DataError(f"field 'band': expected [low, high], got {band_raw!r}")
    try:
        band = check_band(band_raw)
    except ConfigError as exc:
        raise DataError(f"field 'band': {exc}") from None
    params, items = load_state(project_dir)
    rows = validate_history(history, list(params))
    p_known = mastery(rows, params)
    done = [i for i in rows["item_id"].tolist() if i]
    recs = recommend(p_known, params, items, band=band, n=n, done=done)
    return {
        "learner_id": body.get("learner_id"),
        "mastery": {s: round(p, 6) for s, p in p_known.items()},
        "p_correct": {s: round(params[s].p_correct(p), 6) for s, p in p_known.items()},
        "band": list(band),
        "items": [r.to_dict() for r in recs],
        "model": "bkt",
    }


def build_router(settings: Settings) -> Any:
    """The FastAPI router with ``POST /v1/recommend``."""
    from fastapi import APIRouter, Body, Depends

    from bizmodel.server.routes import require_key

    router = APIRouter()
    project_dir = Path(settings.project_dir)
    default_band = settings.project.options.get("band", DEFAULT_BAND)

    @router.post("/v1/recommend", dependencies=[Depends(require_key)], tags=["education"])
    async def recommend_route(body: Any = Body(...)) -> dict[str, Any]:
        """A learner's history (oldest first) → mastery per skill and the next items with their
        expected success probability, targeting the zone of proximal development."""
        return recommend_for(body, project_dir, default_band=default_band)

    return router


__all__ = ["ITEMS_FILE", "PARAMS_FILE", "build_router", "load_state", "recommend_for"]
