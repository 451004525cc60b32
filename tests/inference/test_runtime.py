"""Runtimes on a real model dir: PyTorch = the model, ONNX fp32 parity, int8, cost, choice."""

from __future__ import annotations

import numpy as np
import pytest

from bizmodel.inference import (
    FP32_ATOL,
    INT8_MIN_CORR,
    OnnxRuntime,
    TorchRuntime,
    choose_runtime,
    export_onnx,
    max_abs_diff,
    measure_inference_cost,
)

TEXTS = [
    "Morrisons book second consecutive quarter of sales growth",
    "IMI posts drop in first-quarter organic revenue; warns on full year",
    "Shares slide",
    "Glencore to sell stake in agricultural unit to Canadian pension fund for $2.5bn",
    "Tesco chief executive steps down",
    "Barclays settles currency manipulation probe",
]
PAIRS = ["Morrisons", "IMI", "Aviva", "Glencore", "Tesco", "Barclays"]
_VERBS = ["raises", "cuts", "beats", "misses", "keeps", "doubles", "slashes", "confirms"]
_WHAT = ["dividend", "profit forecast", "sales outlook", "jobs", "prices", "guidance"]
HEADLINES = [
    f"{c} {v} {w} after strong quarter" for c in PAIRS for v in _VERBS[:4] for w in _WHAT[:2]
]
HEADLINE_PAIRS = [h.split()[0] for h in HEADLINES]


@pytest.fixture(scope="module")
def model(serving_model):  # type: ignore[no-untyped-def]
    path, loader = serving_model
    return loader(path)


def _pairs(model):  # type: ignore[no-untyped-def]
    return PAIRS if model.text_pair_column else None


def test_torch_runtime_matches_model_predict(model) -> None:  # type: ignore[no-untyped-def]
    rt = TorchRuntime(model)
    got = rt.predict(TEXTS, _pairs(model), batch_size=4)  # sorted, padded differently
    want = np.asarray(model.predict(TEXTS, _pairs(model)))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_onnx_parity_fp32_and_int8(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch_rt = TorchRuntime(model)
    fp32 = OnnxRuntime(model, export_onnx(model, tmp_path))
    assert max_abs_diff(torch_rt, fp32, TEXTS, _pairs(model)) <= FP32_ATOL
    int8 = OnnxRuntime(model, export_onnx(model, tmp_path, quantize=True))
    assert int8.name == "onnx-int8"
    texts, pairs = HEADLINES, (HEADLINE_PAIRS if model.text_pair_column else None)
    r = np.corrcoef(torch_rt.predict(texts, pairs), int8.predict(texts, pairs))[0, 1]
    assert r >= INT8_MIN_CORR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx", "model.onnx"]
    # A second export reuses the files (no partial rewrite).
    before = (tmp_path / "model.onnx").stat().st_mtime_ns
    export_onnx(model, tmp_path)
    assert (tmp_path / "model.onnx").stat().st_mtime_ns == before


@pytest.mark.slow
def test_choose_runtime_measures_and_picks_one(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = choose_runtime(model, tmp_path, kind="auto", sample_texts=TEXTS * 2)
    assert rt.name in ("torch", "onnx")
    assert choose_runtime(model, tmp_path, kind="torch").name == "torch"


def test_measured_cost_is_positive_and_consistent(model) -> None:  # type: ignore[no-untyped-def]
    cost = measure_inference_cost(TorchRuntime(model), TEXTS * 2, batch_sizes=(1, 4))
    assert cost["runtime"] == "torch" and cost["n_texts"] == 12
    assert cost["ms_per_1k_batch1"] > 0 and cost["cpu_s_per_1k_batch1"] > 0
    assert cost["best_batch_size"] in (1, 4)
    best = min(cost["by_batch_size"], key=lambda r: r["cpu_s_per_1k"])
    assert cost["cpu_s_per_1k_best"] == best["cpu_s_per_1k"]


def test_mismatched_pairs_are_refused(model) -> None:  # type: ignore[no-untyped-def]
    from bizmodel.errors import DataError

    with pytest.raises(DataError, match="got 2 texts but 1 text pairs"):
        TorchRuntime(model).predict(TEXTS[:2], PAIRS[:1])


def test_measure_model_dir_for_registration(serving_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bizmodel.inference.cost import measure_model_dir
    from bizmodel.registry import Registry

    path, loader = serving_model
    mv = Registry(tmp_path).register(
        path, "m", measure=lambda d: measure_model_dir(d, loader=loader, n=8, batch_sizes=(1, 4))
    )
    assert mv.inference_cost is not None and mv.inference_cost["n_texts"] == 8
    assert "inference per 1k:" in mv.summary()
