"""Responsible AI for fine-tuned models: fairness audit, explanations, robustness, gates.

- :func:`audit` — metrics and calibration per segment, disparities (fairlearn), bootstrap
  intervals, flags;
- :func:`explain` — token attributions by integrated gradients (Captum);
- :func:`robustness` — the metric under seeded typos, casing, entity and synonym swaps;
- :func:`augment_rows` — perturbed copies of training rows (``bizmodel train --augment N``);
- :func:`fairness_gate` / :func:`robustness_gate` — promotion decisions for the retrain policy.

Heavy libraries (torch, captum, fairlearn) load on the first call, not on import.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "audit",
    "augment_rows",
    "explain",
    "fairness_gate",
    "robustness",
    "robustness_gate",
]

_HOME = {
    "audit": "bizmodel.responsible.audit",
    "AuditResult": "bizmodel.responsible.audit",
    "explain": "bizmodel.responsible.explain",
    "Explanation": "bizmodel.responsible.explain",
    "robustness": "bizmodel.responsible.robustness",
    "RobustnessResult": "bizmodel.responsible.robustness",
    "augment_rows": "bizmodel.responsible.augment",
    "fairness_gate": "bizmodel.responsible.gates",
    "robustness_gate": "bizmodel.responsible.gates",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(name)
