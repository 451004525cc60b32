"""Scoring member records with a trained project: PII out, notes model, risk model, bands.

A trained project holds ``model/risk_model.json`` (the logistic model, the calibrator, the band
cut-offs and which registered notes model it stacks on) and the notes model in the project's
registry. :class:`RiskService` loads both and turns raw member records into answers; the
``POST /v1/risk`` endpoint and ``bizmodel run`` use the same object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.config import Settings
from bizmodel.errors import ConflictError
from bizmodel.templates.health.advice import DISCLAIMER, advice_for, band_index, check_bands
from bizmodel.templates.health.data import NUMERIC_FIELDS
from bizmodel.templates.health.model import Calibrator, RiskClassifier, notes_logit
from bizmodel.templates.health.pii import strip_record

MODEL_FILE = Path("model") / "risk_model.json"
NOTES_MODEL = "health-notes"  # registered name of the fine-tuned notes model
EVENT_LABEL = "event"  # the notes model's label for "had an event"


def notes_event_prob(model: Any, notes: Iterable[Any]) -> np.ndarray:
    """The notes model's event probability for each (already scrubbed) note."""
    probs = model.predict([str(n) for n in notes])
    return np.asarray(probs[:, list(model.labels).index(EVENT_LABEL)], dtype=float)


class RiskService:
    """Scores records with a fitted risk model (``spec``) and, if it uses one, the notes model.

    Parameters
    ----------
    spec : dict
        The content of ``model/risk_model.json``.
    notes_model : FineTunedModel, optional
        Needed when the classifier's features include ``notes_logit``.
    """

    def __init__(
        self, spec: Mapping[str, Any], notes_model: Any = None, *, usd_per_member: float = 0.0
    ) -> None:
        self.spec = dict(spec)
        self.usd_per_member = usd_per_member  # measured serving cost of one record, if known
        self.classifier = RiskClassifier.from_dict(spec["classifier"])
        self.calibrator = Calibrator.from_dict(spec["calibrator"])
        self.cutoffs, self.bands = check_bands(spec["cutoffs"], spec["bands"])
        self.notes_model = notes_model
        if "notes_logit" in self.classifier.features and notes_model is None:
            raise ConflictError("this risk model stacks on the notes model; load it as well")

    @classmethod
    def load(cls, settings: Settings) -> RiskService:
        """Load the project's fitted risk model and its notes model from the registry."""
        path = settings.project_dir / MODEL_FILE
        if not path.is_file():
            raise ConflictError(
                f"no trained risk model in {settings.project_dir} ({MODEL_FILE} is missing); "
                "run `bizmodel run` in the project folder first"
            )
        spec = json.loads(path.read_text(encoding="utf-8"))
        notes = None
        ref = spec.get("notes_model")
        if ref:
            from bizmodel.finetune import load_model
            from bizmodel.inference.cost import usd_per_prediction
            from bizmodel.registry import Registry

            mv = Registry(settings.resolved_registry_dir()).get(ref["name"], ref["version"])
            notes = load_model(mv.path)
            server = settings.server
            usd = (
                usd_per_prediction(
                    mv.inference_cost, server.cpu_usd_per_hour, server.gpu_usd_per_hour
                )
                or 0.0
            )
            return cls(spec, notes, usd_per_member=usd)
        return cls(spec, notes)

    def probabilities(self, clean: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(uncalibrated scores, calibrated probabilities) of PII-free records ``clean``."""
        X = clean[list(NUMERIC_FIELDS)].astype(float).copy()
        if self.notes_model is not None:
            X["notes_logit"] = notes_logit(notes_event_prob(self.notes_model, clean["notes"]))
        raw = self.classifier.predict_proba(X)
        return raw, self.calibrator.predict(raw)

    def score(self, records: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list]:
        """Answers for raw ``records`` (PII is dropped first) and the PII-free records.

        Each answer: ``member_id``, ``probability`` (calibrated), ``band``, ``advice`` (list of
        sentences) and ``disclaimer``.
        """
        clean = [strip_record(r) for r in records]
        frame = pd.DataFrame(clean)
        frame["smoker"] = frame["smoker"].astype(float)
        frame["notes"] = frame.get("notes", pd.Series([""] * len(frame))).fillna("").astype(str)
        _, prob = self.probabilities(frame)
        idx = band_index(prob, self.cutoffs)
        answers = []
        for rec, p, i in zip(clean, prob, idx, strict=True):
            band = self.bands[int(i)]
            fields = {k: float(rec[k]) for k in NUMERIC_FIELDS}
            answers.append(
                {
                    "member_id": rec.get("member_id"),
                    "probability": float(p),
                    "band": band,
                    "advice": advice_for(band, fields, self.bands),
                    "disclaimer": DISCLAIMER,
                }
            )
        return answers, clean


__all__ = ["EVENT_LABEL", "MODEL_FILE", "NOTES_MODEL", "RiskService", "notes_event_prob"]
