"""Report sections for the checks stored with registered model versions.

``bizmodel audit`` and ``bizmodel robustness`` of a registered version store their
``to_dict()`` with it (:meth:`bizmodel.registry.Registry.record_check`); the builders here
turn them into the report's ``custom`` section shape (``key``, ``title``, ``description``,
Plotly ``figures`` as plain dicts, ``table``, ``notes``), which
:func:`bizmodel.report.project.project_report_data` adds for every registered model.

Examples
--------
>>> audit = {"segment_columns": ["region"], "metric": "mae", "n": 30, "confidence": 0.95,
...          "max_difference": 0.05, "flagged": [], "disparity": {}, "segments": [
...     {"segment": "north", "n": 20, "value": 0.2, "gap": -0.01, "gap_ci": [-0.05, 0.03],
...      "calibration": 0.01, "flagged": False, "reasons": []}]}
>>> s = audit_section("headlines v1", audit)
>>> s["title"], s["table"][0]["segment"], s["figures"][0]["data"][0]["type"]
('Fairness audit: headlines v1 by region', 'north', 'bar')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Most versions per model whose checks are shown (newest first).
MAX_VERSIONS = 3


def _key(kind: str, label: str) -> str:
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")


def _layout(title: str) -> dict[str, Any]:
    return {
        "height": 340,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 60},
        "yaxis": {"title": {"text": title}, "zeroline": True},
        "showlegend": False,
    }


def audit_section(label: str, audit: Mapping[str, Any]) -> dict[str, Any]:
    """A fairness audit (``AuditResult.to_dict()``) of the model version ``label``.

    The figure shows each segment's gap to the rest (how much worse on the audited metric)
    with its bootstrap interval and the flagging bound; the table lists every segment.
    """
    segments = list(audit.get("segments", ()))
    metric = str(audit.get("metric", "metric"))
    cols = ", ".join(audit.get("segment_columns", ())) or "segment"
    bound = audit.get("max_difference")
    names = [str(s["segment"]) for s in segments]
    gaps = [s.get("gap") for s in segments]
    lo = [s.get("gap_ci", [None, None])[0] for s in segments]
    hi = [s.get("gap_ci", [None, None])[1] for s in segments]
    colours = ["#d62728" if s.get("flagged") else "#1f77b4" for s in segments]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": names,
            "y": gaps,
            "marker": {"color": colours},
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": [
                    h - g if h is not None and g is not None else 0
                    for g, h in zip(gaps, hi, strict=True)
                ],
                "arrayminus": [
                    g - lo_ if lo_ is not None and g is not None else 0
                    for g, lo_ in zip(gaps, lo, strict=True)
                ],
            },
            "name": f"{metric} gap",
        }
    ]
    if bound is not None and names:
        data.append(
            {"type": "scatter", "mode": "lines", "x": [names[0], names[-1]], "y": [bound, bound],
             "line": {"dash": "dash", "color": "#7f7f7f"}, "name": "bound"}
        )  # fmt: skip
    table = [
        {
            "segment": s["segment"],
            "n": s.get("n"),
            metric: s.get("value"),
            "gap to rest": s.get("gap"),
            "gap CI": s.get("gap_ci"),
            "calibration": s.get("calibration"),
            "flagged": s.get("flagged"),
            "reasons": "; ".join(s.get("reasons", ())),
        }
        for s in segments
    ]
    flagged = list(audit.get("flagged", ()))
    conf = float(audit.get("confidence", 0.95))
    desc = (
        f"{metric} per {cols} segment on {audit.get('n')} rows; bars: how much worse than the "
        f"rest of the rows (positive = worse), with {conf:.0%} bootstrap intervals; dashed: "
        f"the bound {bound}. "
        + (f"Flagged: {', '.join(map(str, flagged))}." if flagged else "No segment flagged.")
    )
    notes = [
        f"{m} disparity (fairlearn): "
        + ", ".join(f"{k} {v:.4g}" for k, v in d.items() if isinstance(v, int | float))
        for m, d in dict(audit.get("disparity", {})).items()
        if isinstance(d, Mapping)
    ]
    if audit.get("recorded"):
        notes.append(f"recorded {audit['recorded']} on {audit.get('data', '?')}")
    return {
        "key": _key("audit", label),
        "title": f"Fairness audit: {label} by {cols}",
        "description": desc,
        "figures": [{"data": data, "layout": _layout(f"{metric} gap to rest")}],
        "table": table,
        "notes": notes,
    }


def robustness_section(label: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A robustness run (``RobustnessResult.to_dict()``) of the model version ``label``.

    Examples
    --------
    >>> r = {"metric": "mae", "clean": 0.2, "n": 10, "perturbations": [
    ...     {"kind": "typo", "value": 0.25, "drop": 0.05, "relative_drop": 0.25, "changed": 9,
    ...      "prediction_change": 0.03}]}
    >>> robustness_section("headlines v1", r)["table"][0]["drop"]
    0.05
    """
    perts = list(result.get("perturbations", ()))
    metric = str(result.get("metric", "metric"))
    table = [
        {
            "perturbation": p["kind"],
            metric: p.get("value"),
            "drop": p.get("drop"),
            "relative drop": p.get("relative_drop"),
            "rows changed": p.get("changed"),
            "mean |Δ prediction|": p.get("prediction_change"),
        }
        for p in perts
    ]
    data = [{"type": "bar", "x": [p["kind"] for p in perts], "y": [p.get("drop") for p in perts],
             "marker": {"color": "#ff7f0e"}, "name": "drop"}]  # fmt: skip
    notes = [f"recorded {result['recorded']}"] if result.get("recorded") else []
    return {
        "key": _key("robustness", label),
        "title": f"Robustness: {label}",
        "description": (
            f"{metric} on {result.get('n')} rows: clean {result.get('clean')}; bars: how much "
            "worse the metric got under each seeded perturbation (positive = worse)."
        ),
        "figures": [{"data": data, "layout": _layout(f"{metric} drop")}],
        "table": table,
        "notes": notes,
    }


_BUILDERS = {"audit": audit_section, "robustness": robustness_section}


def check_sections(versions: Iterable[Any]) -> list[dict[str, Any]]:
    """Sections for the stored checks of ``versions`` (:class:`~bizmodel.registry.ModelVersion`
    objects), newest version first, at most :data:`MAX_VERSIONS` per model.

    Examples
    --------
    >>> check_sections([])
    []
    """
    out: list[dict[str, Any]] = []
    shown: dict[str, int] = {}
    for mv in sorted(versions, key=lambda v: (v.name, -v.version)):
        if not mv.checks or shown.get(mv.name, 0) >= MAX_VERSIONS:
            continue
        shown[mv.name] = shown.get(mv.name, 0) + 1
        label = f"{mv.name} v{mv.version}"
        for kind, result in mv.checks.items():
            build = _BUILDERS.get(kind)
            if build is not None and isinstance(result, Mapping):
                out.append(build(label, result))
    return out
