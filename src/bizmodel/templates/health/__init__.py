"""Health-risk management: calibrated risk from member records and notes, bands, advice.

``bizmodel new health DIR && cd DIR && bizmodel run`` writes and runs a project that

* fine-tunes the packaged MiniLM on care managers' free-text notes (PII scrubbed) and stacks its
  log-odds with the structured fields (age, BMI, blood pressure, smoking, activity) in a
  logistic risk model, compared with a structured-only baseline;
* calibrates the risk (isotonic or Platt, scikit-learn) on a held-out split and reports the
  ECE before and after, with a reliability diagram;
* maps the probability to risk bands (configurable cut-offs) with rule-based advice, served
  by ``POST /v1/risk``;
* simulates members enrolling under price and outreach-budget levers (documented ground
  truth), fits enrolment, optimises profit vs predicted-risk reduction and writes the report.

Not medical advice: the README, the report and every API answer say so.

Modules: :mod:`.data` (generated records, validation), :mod:`.pii` (stripping),
:mod:`.calibration` (ECE, reliability bins), :mod:`.model` (classifier, calibrator),
:mod:`.advice` (bands, advice), :mod:`.service` (scoring), :mod:`.api` (``/v1/risk``),
:mod:`.market` (simulated members), :mod:`.report` (sections), :mod:`.run` (the pipeline).

Examples
--------
>>> TEMPLATE.name, sorted(TEMPLATE.default_options())[:3]
('health', ['bands', 'calibration', 'cutoffs'])
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bizmodel.config import Settings
from bizmodel.templates import PipelineTemplate

SAMPLE_MEMBERS = 2400


class HealthTemplate(PipelineTemplate):
    """The ``health`` template (see the package docstring)."""

    name = "health"
    title = "Health-risk management"
    description = "risk classifier over member records + notes, calibrated, banded, with advice"

    def default_options(self) -> dict[str, Any]:
        """Scale and modelling options (``bizmodel run -o KEY=VALUE`` overrides them)."""
        return {
            "members": SAMPLE_MEMBERS,  # rows of data/members.csv used (at most)
            "epochs": 2,  # notes model fine-tuning epochs
            "max_length": 64,  # tokens per note
            # platt keeps the ranking (outreach calls the highest risks first); isotonic's steps
            # tie members. Both are fitted and scored; this one is served.
            "calibration": "platt",  # platt | isotonic
            "cutoffs": [0.15, 0.35],  # band edges on the calibrated probability
            "bands": ["low", "moderate", "high"],
            "days": 28,  # days of simulated enrolment
            "seed": 0,
        }

    def write(self, directory: Path, *, seed: int) -> None:
        """Write sample data (with its licence), the business spec and the product README."""
        from bizmodel.templates.health.files import write_project

        write_project(directory, seed=seed, members=SAMPLE_MEMBERS)

    def start(self, settings: Settings, options: Mapping[str, Any]) -> tuple[Any, Settings, Path]:
        """How a run starts: options checked before any training (:mod:`.run`)."""
        from bizmodel.templates.health.run import start_health

        return start_health(settings, options)

    def api_router(self, settings: Settings) -> Any:
        """``POST /v1/risk`` (see :mod:`bizmodel.templates.health.api`)."""
        from bizmodel.templates.health.api import risk_router

        return risk_router(settings)


TEMPLATE = HealthTemplate()

__all__ = ["TEMPLATE", "HealthTemplate"]
