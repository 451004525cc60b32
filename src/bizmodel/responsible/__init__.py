"""Responsible AI for fine-tuned models: fairness audit, explanations, robustness, gates.

- :func:`audit` — metrics and calibration per segment, disparities (fairlearn), bootstrap
  intervals, flags;
- :func:`explain` / :func:`explain_model` — token attributions by integrated gradients
  (Captum) or SHAP (KernelSHAP over token masks);
- :func:`robustness` — the metric under seeded typos, casing, entity and synonym swaps;
- :func:`augment_rows` — perturbed copies of training rows (``bizmodel train --augment N``);
- :func:`fairness_gate` / :func:`robustness_gate` — promotion decisions for the retrain policy;
- :mod:`~bizmodel.responsible.sections` — report sections of the checks stored with versions.

Heavy libraries (torch, captum, shap, fairlearn) load on the first call, not on import.
"""

from __future__ import annotations

# Eager (these modules are light: numpy, no torch): a lazy __getattr__ would be shadowed by
# the submodule of the same name (``audit``, ``explain``, ``robustness``) once it is imported.
from bizmodel.responsible.audit import AuditResult, audit
from bizmodel.responsible.augment import augment_rows
from bizmodel.responsible.explain import Explanation, explain, explain_model
from bizmodel.responsible.gates import apply_gates, fairness_gate, robustness_gate
from bizmodel.responsible.robustness import RobustnessResult, robustness

__all__ = [
    "AuditResult",
    "Explanation",
    "RobustnessResult",
    "apply_gates",
    "audit",
    "augment_rows",
    "explain",
    "explain_model",
    "fairness_gate",
    "robustness",
    "robustness_gate",
]
