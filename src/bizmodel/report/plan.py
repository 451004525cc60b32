"""The report's growth and plan sections of a project, from what it stored: each experiment's
growth fit (``growth/NAME.json``, written by ``fit-growth --project`` and ``bizmodel run``)
and the last plan (``recommendation.json``, written by ``optimize --project`` and ``bizmodel
run``), with the plan's warnings (levers resting on effects that are not significant).

Examples
--------
>>> recommendation_section({"status": "optimal", "objective": 2.0, "levers": {"email": 1.0},
...     "quantities": {"visits": 7500.0}, "warnings": ["not significant: ..."]})["table"]
[{'name': 'email', 'kind': 'lever', 'value': 1.0}, {'name': 'visits', 'kind': 'quantity', \
'value': 7500.0}]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.errors import DataError
from bizmodel.optimize.growth_file import FITS_DIR

RECOMMENDATION_FILE = "recommendation.json"

__all__ = ["RECOMMENDATION_FILE", "plan_sections", "recommendation_section", "stored_fit_sections"]


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=str(path)) from None


def stored_fit_sections(settings: Settings) -> list[dict[str, Any]]:
    """One ``custom`` section per stored experiment fit: its coefficients, standard errors,
    95% intervals and p-values, and what it was fitted from."""
    from bizmodel.report.project import growth_fit_section

    out = []
    for path in sorted((Path(settings.project_dir) / FITS_DIR).glob("*.json")):
        body = _read(path)
        about = body.get("experiment") if isinstance(body, dict) else None
        if not isinstance(about, dict):
            continue  # not a stored experiment fit
        try:
            section = growth_fit_section(body)
        except DataError as exc:
            raise DataError(exc.message, file=str(path)) from None
        units = about.get("units") or {}
        arms = "; ".join(
            f"{arm} ({units.get(arm, '?')} users): "
            + ", ".join(f"{k} = {v:g}" for k, v in levers.items())
            for arm, levers in (about.get("arms") or {}).items()
        )
        errors = f", {about['robust']} standard errors" if about.get("robust") else ""
        section.update(
            key=f"growth_fit_{about.get('name', path.stem)}",
            title=f"Growth fit of experiment {about.get('name', path.stem)!r}: "
            f"{about.get('metric')} per user = exp(Σ aᵢxᵢ + b)",
            description=f"{section['description'][:-1]}{errors}. Arms: {arms}. "
            f"Stored as {FITS_DIR}/{path.name} by fit-growth --project.",
        )
        out.append(section)
    return out


def recommendation_section(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A ``custom`` section of a plan (``OptimizationResult.to_dict()``): its levers and
    quantities, status and objective; its warnings as notes."""
    table = [{"name": k, "kind": "lever", "value": v} for k, v in rec["levers"].items()]
    table += [{"name": k, "kind": "quantity", "value": v} for k, v in rec["quantities"].items()]
    status = str(rec.get("status", "optimal"))
    message = f" ({rec['message']})" if rec.get("message") else ""
    return {
        "key": "recommended_plan",
        "title": "Recommended plan",
        "description": f"Status {status}{message}, objective {float(rec['objective']):.6g}: "
        "the lever values that maximise the business model's objective under its "
        "constraints, and every quantity there.",
        "table": table,
        "notes": [str(w) for w in rec.get("warnings", [])],
    }


def plan_sections(settings: Settings) -> list[dict[str, Any]]:
    """The stored fits' sections, then the last plan's (``[]`` when there are none)."""
    out = stored_fit_sections(settings)
    path = Path(settings.project_dir) / RECOMMENDATION_FILE
    if path.is_file():
        rec = _read(path)
        if not isinstance(rec, dict) or not {"levers", "quantities", "objective"} <= set(rec):
            raise DataError(
                "expected a plan as optimize --json prints it (levers, quantities, objective)",
                file=str(path),
            )
        out.append(recommendation_section(rec))
    return out
