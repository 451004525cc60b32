"""The health template's training data and risk models: validated PII-free members split
seeded into text / fit / calibration / test, and the calibrated structured and stacked models.

Examples
--------
>>> sorted(SPLITS)
['calibration', 'fit', 'test', 'text']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import DataError
from bizmodel.templates.health.data import NUMERIC_FIELDS, validate_members
from bizmodel.templates.health.pii import strip_record

SPLITS = {"text": 0.4, "fit": 0.3, "calibration": 0.15, "test": 0.15}
DATA_FILE = Path("data") / "members.csv"


def load_clean_members(pdir: Path, rows: int, seed: int) -> pd.DataFrame:
    """Validated, PII-free members (at most ``rows``) with a seeded ``split`` column."""
    path = pdir / DATA_FILE
    if not path.is_file():
        raise DataError(
            f"sample data {DATA_FILE} is missing; `bizmodel new health` writes it", file=str(pdir)
        )
    raw = validate_members(pd.read_csv(path, dtype={"member_id": str}), file=str(path))
    if "event" not in raw.columns:
        raise DataError("column 'event' (0/1 outcome) is needed to train", file=str(path))
    raw = raw.head(int(rows)).reset_index(drop=True)
    clean = pd.DataFrame(
        [strip_record({str(k): v for k, v in r.items()}) for r in raw.to_dict("records")]
    )
    clean = clean.drop(columns=[c for c in ("true_risk",) if c in clean.columns])
    rng = np.random.default_rng(seed)
    clean["split"] = rng.choice(list(SPLITS), size=len(clean), p=list(SPLITS.values()))
    for name in SPLITS:
        part = clean.loc[clean["split"] == name, "event"]
        if part.nunique() < 2:
            raise DataError(
                f"the {name!r} split of {len(clean)} members has no events or no non-events; "
                "use more members (option members, at least ~200)"
            )
    return clean


def fit_risk_models(
    clean: pd.DataFrame, notes_prob: np.ndarray | None, *, method: str
) -> dict[str, Any]:
    """Structured-only and stacked models, calibrated; test-split scores and reliability bins."""
    from bizmodel.templates.health.calibration import reliability_bins
    from bizmodel.templates.health.model import (
        Calibrator,
        RiskClassifier,
        notes_logit,
        score_probabilities,
    )

    data = clean.copy()
    fields = list(NUMERIC_FIELDS)
    variants = {"structured": fields}
    if notes_prob is not None:
        data["notes_logit"] = notes_logit(notes_prob)
        variants["fields + notes"] = [*fields, "notes_logit"]
    parts = {k: data[data["split"] == k] for k in SPLITS}
    out: dict[str, Any] = {"rows": [], "bins": {}, "models": {}, "test_prob": {}}
    for name, feats in variants.items():
        clf = RiskClassifier(feats).fit(parts["fit"], parts["fit"]["event"])
        cal_scores = clf.predict_proba(parts["calibration"])
        test_raw = clf.predict_proba(parts["test"])
        y = parts["test"]["event"].to_numpy()
        out["rows"].append(
            {"model": name, "calibration": "none", **score_probabilities(test_raw, y)}
        )
        out["bins"][f"{name}, uncalibrated"] = reliability_bins(test_raw, y).to_dict()
        for m in ("isotonic", "platt"):
            cal = Calibrator(m).fit(cal_scores, parts["calibration"]["event"])
            test_cal = cal.predict(test_raw)
            out["rows"].append(
                {"model": name, "calibration": m, **score_probabilities(test_cal, y)}
            )
            if m == method:
                out["bins"][f"{name}, {m}"] = reliability_bins(test_cal, y).to_dict()
                out["models"][name] = (clf, cal)
                out["test_prob"][name] = test_cal
    out["test_y"] = parts["test"]["event"].to_numpy()
    out["n"] = {k: len(v) for k, v in parts.items()}
    return out


__all__ = ["DATA_FILE", "SPLITS", "fit_risk_models", "load_clean_members"]
