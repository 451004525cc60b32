"""The int8 gate is held out: select_int8 calibrates on one part of the sample, checks on the rest.

The rows each step saw are recorded by wrapping the functions select_int8 calls, and checked
against the sample itself (which texts went where), not against split_calibration.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bizmodel.errors import ConfigError
from bizmodel.finetune import load_model
from bizmodel.inference import choice as choice_module
from bizmodel.inference.choice import select_int8
from bizmodel.inference.quantize import split_calibration

_FIRMS = ["Morrisons", "IMI", "Aviva", "Glencore", "Tesco", "Barclays"]
_VERBS = ["raises", "cuts", "beats", "misses"]
PAIRS = [f for f in _FIRMS for _ in _VERBS]
HEADLINES = [f"{f} {v} profit forecast after strong quarter" for f in _FIRMS for v in _VERBS]
TARGETS = [float(i) / 10 for i in range(len(HEADLINES))]  # row i's target identifies row i


@pytest.fixture(scope="module")
def model(tiny_mean_pooled_model_dir: str) -> Any:
    return load_model(tiny_mean_pooled_model_dir)


def _select(model: Any, onnx_dir: Path) -> dict[str, Any]:
    # (company, headline) as the model reads them; the speed is injected (no timing)
    return select_int8(
        model, onnx_dir, PAIRS, HEADLINES, targets=TARGETS, variants=("static",),
        threads=1, speed=lambda rt: 1.0,
    )  # fmt: skip


def test_static_int8_is_gated_on_rows_it_was_not_calibrated_on(
    model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real_export, real_check = choice_module.export_onnx, choice_module.int8_check

    def export(*args: Any, **kw: Any) -> Any:
        if kw.get("quantize"):
            seen["calibration"] = kw["calibration"]
        return real_export(*args, **kw)

    def check(fp32: Any, int8: Any, texts: Any, pairs: Any, **kw: Any) -> dict[str, Any]:
        seen["gate"], seen["targets"], seen["fp32_rows"] = texts, kw["targets"], len(fp32.out)
        return real_check(fp32, int8, texts, pairs, **kw)

    monkeypatch.setattr(choice_module, "export_onnx", export)
    monkeypatch.setattr(choice_module, "int8_check", check)
    got = _select(model, tmp_path)

    cal_companies, cal_headlines = seen["calibration"]
    cal_rows = {HEADLINES.index(h) for h in cal_headlines}
    gate_rows = [TARGETS.index(t) for t in seen["targets"]]
    assert cal_companies == [PAIRS[i] for i in sorted(cal_rows)]  # pairs stay with their rows
    assert seen["gate"] == [PAIRS[i] for i in gate_rows]
    assert cal_rows.isdisjoint(gate_rows)  # no row both calibrates and judges
    assert sorted(cal_rows | set(gate_rows)) == list(range(len(HEADLINES)))  # none left out
    assert (len(cal_rows), len(gate_rows)) == (8, 16)  # a third calibrates
    assert seen["fp32_rows"] == 16  # fp32 is compared on the gate rows too
    assert (got["calibration_rows"], got["gate_rows"], got["n"]) == (8, 16, 16)
    assert got["criterion"] == "task metric"


def test_the_int8_decision_is_reproducible(model: Any, tmp_path: Path) -> None:
    first = _select(model, tmp_path / "a")
    (tmp_path / "b").mkdir()  # the same fp32 graph, a fresh static export
    shutil.copy(tmp_path / "a" / "model.onnx", tmp_path / "b" / "model.onnx")
    again = _select(model, tmp_path / "b")
    assert again == first  # the same split, ranges, metric change and verdict
    assert first["variant"] == ("static" if first["within_tolerance"] else None)


def test_a_sample_too_small_to_split_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"at least 2 sample rows .* got 1"):
        split_calibration(1)
    cal, gate = split_calibration(2)
    assert sorted(cal + gate) == [0, 1] and len(cal) == len(gate) == 1
