"""Report sections of the audits and robustness runs stored with registered versions."""

from __future__ import annotations

from pathlib import Path

from bizmodel.registry import ModelVersion
from bizmodel.report.html import build_report
from bizmodel.report.sections import sections_from_data
from bizmodel.responsible.sections import MAX_VERSIONS, check_sections

AUDIT = {
    "segment_columns": ["region"],
    "metric": "mae",
    "n": 30,
    "confidence": 0.95,
    "max_difference": 0.05,
    "flagged": ["south"],
    "disparity": {"mae": {"difference": 0.12, "ratio": 1.8}},
    "data": "news.csv",
    "recorded": "2026-11-29T10:00:00+00:00",
    "segments": [
        {"segment": "north", "n": 20, "value": 0.15, "gap": -0.12, "gap_ci": [-0.2, -0.05],
         "calibration": 0.01, "flagged": False, "reasons": []},
        {"segment": "south", "n": 10, "value": 0.27, "gap": 0.12, "gap_ci": [0.06, 0.2],
         "calibration": 0.09, "flagged": True, "reasons": ["mae worse than the rest"]},
    ],
}  # fmt: skip
ROBUSTNESS = {
    "metric": "mae",
    "n": 30,
    "clean": 0.2,
    "perturbations": [
        {"kind": "typo", "value": 0.26, "drop": 0.06, "relative_drop": 0.3, "changed": 28,
         "prediction_change": 0.04},
    ],
}  # fmt: skip


def _version(name: str, version: int, checks: dict) -> ModelVersion:  # type: ignore[type-arg]
    return ModelVersion(name, version, Path("/x"), "", "", "regression", checks=checks)


def test_audit_section_shows_gaps_with_intervals_and_flags() -> None:
    (s,) = check_sections([_version("headlines", 2, {"audit": AUDIT})])
    assert s["key"] == "audit-headlines-v2"
    assert s["title"] == "Fairness audit: headlines v2 by region"
    assert "Flagged: south." in s["description"]
    bar = s["figures"][0]["data"][0]
    assert bar["y"] == [-0.12, 0.12]
    assert [round(v, 9) for v in bar["error_y"]["array"]] == [0.07, 0.08]
    assert [round(v, 9) for v in bar["error_y"]["arrayminus"]] == [0.08, 0.06]
    assert bar["marker"]["color"][1] == "#d62728"  # the flagged segment is red
    assert s["figures"][0]["data"][1]["y"] == [0.05, 0.05]  # the bound
    assert [r["flagged"] for r in s["table"]] == [False, True]
    assert any("difference 0.12" in n and "ratio 1.8" in n for n in s["notes"])


def test_sections_render_in_the_html_report(tmp_path: Path) -> None:
    versions = [_version("headlines", v, {"audit": AUDIT, "robustness": ROBUSTNESS})
                for v in range(1, MAX_VERSIONS + 3)] + [_version("other", 1, {})]  # fmt: skip
    custom = check_sections(versions)
    # Newest versions first, at most MAX_VERSIONS of a model; versions without checks skipped.
    assert [c["key"] for c in custom[:2]] == ["audit-headlines-v5", "robustness-headlines-v5"]
    assert len(custom) == 2 * MAX_VERSIONS
    sections = sections_from_data({"custom": custom})
    assert sections[1].table[0]["drop"] == 0.06
    page = build_report({"custom": custom}, title="t", output=tmp_path / "r.html")
    assert "Fairness audit: headlines v5 by region" in page and "Robustness: headlines v5" in page
    assert (tmp_path / "r.html").read_text() == page
