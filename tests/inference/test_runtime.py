"""Runtimes on a real model dir: PyTorch = the model, ONNX fp32 parity, int8, cost, choice."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.stats import pearsonr

from bizmodel.errors import DataError
from bizmodel.finetune import load_model
from bizmodel.inference import (
    FP32_ATOL,
    INT8_MIN_CORR,
    INT8_TOLERANCE,
    INT8_VARIANTS,
    OnnxRuntime,
    TorchRuntime,
    choose_runtime,
    export_onnx,
    int8_check,
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
def test_onnx_parity_fp32_and_int8(model, tiny_mean_pooled_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch_rt = TorchRuntime(model)
    out = tmp_path / "onnx"
    fp32 = OnnxRuntime(model, export_onnx(model, out))
    assert max_abs_diff(torch_rt, fp32, TEXTS, _pairs(model)) <= FP32_ATOL
    int8 = OnnxRuntime(model, export_onnx(model, out, quantize=True))
    assert int8.name == "onnx-int8"
    texts, pairs = HEADLINES, (HEADLINE_PAIRS if model.text_pair_column else None)
    # int8 rounding against outputs that spread (see the fixture: the default's barely do)
    spread_model = load_model(tiny_mean_pooled_model_dir)
    spread = tmp_path / "spread"
    r = np.corrcoef(
        TorchRuntime(spread_model).predict(texts, pairs),
        OnnxRuntime(spread_model, export_onnx(spread_model, spread, quantize=True)).predict(
            texts, pairs
        ),
    )[0, 1]
    assert r >= INT8_MIN_CORR
    names = ["model.int8.onnx", "model.onnx"]
    assert sorted(p.name for p in out.iterdir()) == names
    # A second export reuses the files (no partial rewrite).
    before = (out / "model.onnx").stat().st_mtime_ns
    export_onnx(model, out)
    assert (out / "model.onnx").stat().st_mtime_ns == before


def test_padding_in_numpy_equals_the_tokenizers(model) -> None:  # type: ignore[no-untyped-def]
    rt = TorchRuntime(model)
    texts, pairs = HEADLINES[:7], (HEADLINE_PAIRS[:7] if model.text_pair_column else None)
    enc = rt._tokenize(texts, pairs)
    idx = np.array([6, 0, 3])
    got = rt._pad(enc, idx)
    want = model.tokenizer(
        [texts[i] for i in idx],
        [pairs[i] for i in idx] if pairs else None,
        padding=True,
        truncation=True,
        max_length=rt.max_length,
        return_tensors="np",
    )
    assert list(got) == rt.input_names
    for k in rt.input_names:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.slow
def test_onnx_batches_in_parallel_equal_one_thread_in_sequence(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts, pairs = HEADLINES, (HEADLINE_PAIRS if model.text_pair_column else None)
    path = export_onnx(model, tmp_path)
    sequential = OnnxRuntime(model, path, threads=1)  # one worker: batches one after another
    parallel = OnnxRuntime(model, path, threads=2)
    assert parallel.workers == 2 and sequential.workers == 1
    # A one-thread session computes in the caller's thread: a server may run batches side by
    # side, one per core; a multi-thread session keeps the cores busy itself.
    cores = os.cpu_count() or 1
    assert sequential.parallel_batches == (cores if cores > 1 else 1)
    assert parallel.parallel_batches == 1
    want = sequential.predict(texts, pairs, batch_size=5)  # 10 batches
    got = parallel.predict(texts, pairs, batch_size=5)
    np.testing.assert_allclose(got, want, atol=1e-5)  # same batches, one-thread sessions
    assert parallel._single is not None  # the batch-parallel path ran
    np.testing.assert_allclose(got, TorchRuntime(model).predict(texts, pairs), atol=FP32_ATOL)
    # Calls from several threads at once (the server's batches side by side): same answers.
    chunks = [slice(i, i + 3) for i in range(0, len(texts), 3)]
    with ThreadPoolExecutor(4) as ex:
        side_by_side = list(
            ex.map(lambda s: sequential.predict(texts[s], pairs[s] if pairs else None), chunks)
        )
    one_by_one = [sequential.predict(texts[s], pairs[s] if pairs else None) for s in chunks]
    for a, b in zip(side_by_side, one_by_one, strict=True):
        np.testing.assert_array_equal(a, b)
    one_batch = OnnxRuntime(model, path, threads=2)
    one_batch.predict(texts[:5], pairs[:5] if pairs else None)
    assert one_batch._single is None  # a single batch keeps the multi-thread session


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


@pytest.mark.slow
def test_optimised_graph_is_fused_and_matches_torch(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import onnx

    attn_before = model.module.encoder.config._attn_implementation
    path = export_onnx(model, tmp_path, optimize=True)
    assert path.name == "model.opt.onnx"
    assert export_onnx(model, tmp_path).name == "model.onnx"  # the default: traced graph
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    # ONNX Runtime's transformer optimizer fused the eager-attention trace.
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} <= ops
    assert {"BiasGelu"} & ops or {"FastGelu"} & ops or {"Gelu"} & ops
    traced_ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "IsNaN" not in traced_ops  # not the SDPA trace
    torch_rt = TorchRuntime(model)
    texts, pairs = HEADLINES, (HEADLINE_PAIRS if model.text_pair_column else None)
    for graph in (path, tmp_path / "model.onnx"):
        rt = OnnxRuntime(model, graph)
        assert rt.name == "onnx"
        assert max_abs_diff(torch_rt, rt, texts, pairs) <= FP32_ATOL
        assert max_abs_diff(torch_rt, rt, TEXTS, _pairs(model)) <= FP32_ATOL
    # Spinning is a session option only: same outputs.
    spin = OnnxRuntime(model, path, spinning=True, threads=1)
    assert max_abs_diff(OnnxRuntime(model, path), spin, TEXTS, _pairs(model)) == 0.0
    # The encoder is back on its own attention implementation after the export.
    assert model.module.encoder.config._attn_implementation == attn_before
    np.testing.assert_allclose(
        TorchRuntime(model).predict(TEXTS, _pairs(model)),
        np.asarray(model.predict(TEXTS, _pairs(model))),
        atol=1e-5,
    )


class _Fixed:
    def __init__(self, out: list) -> None:  # type: ignore[type-arg]
        self.out = np.asarray(out, dtype=float)

    def predict(self, texts, pairs=None):  # type: ignore[no-untyped-def]
        return self.out


def test_int8_check_relative_distance_and_tolerance() -> None:
    a = np.linspace(-1.0, 1.0, 11)
    std = a.std()
    near = _Fixed(list(a + INT8_TOLERANCE * std * 0.5))
    far = _Fixed(list(a + INT8_TOLERANCE * std * 2.0))
    ok = int8_check(_Fixed(list(a)), near, ["t"] * 11)
    assert ok["relative_diff"] == pytest.approx(INT8_TOLERANCE * 0.5)
    assert ok["mean_abs_diff"] == pytest.approx(INT8_TOLERANCE * std * 0.5)
    assert ok["within_tolerance"] and ok["n"] == 11 and ok["label_agreement"] is None
    bad = int8_check(_Fixed(list(a)), far, ["t"] * 11)
    assert bad["relative_diff"] == pytest.approx(INT8_TOLERANCE * 2.0)
    assert not bad["within_tolerance"]
    # A stricter tolerance is honoured.
    assert not int8_check(_Fixed(list(a)), near, ["t"] * 11, tolerance=0.01)["within_tolerance"]


def test_int8_check_degenerate_and_classification() -> None:
    flat = _Fixed([0.5, 0.5, 0.5])
    same = int8_check(flat, flat, ["t"] * 3)
    assert same["relative_diff"] == 0.0 and same["within_tolerance"]
    moved = int8_check(flat, _Fixed([0.5, 0.5, 0.6]), ["t"] * 3)
    assert moved["relative_diff"] is None and not moved["within_tolerance"]
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    flipped = [[0.9, 0.1], [0.2, 0.8], [0.45, 0.55], [0.3, 0.7]]  # 1 of 4 labels changes
    c = int8_check(_Fixed(probs), _Fixed(flipped), ["t"] * 4, tolerance=1.0)
    assert c["label_agreement"] == 0.75 and not c["within_tolerance"]


@pytest.mark.slow
def test_auto_serves_int8_only_when_its_check_passed(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    refused = choose_runtime(model, tmp_path, kind="auto", int8={"within_tolerance": False})
    assert refused.name in ("torch", "onnx")
    assert refused.choice is not None and "onnx-int8" not in refused.choice["seq_per_s"]
    assert refused.choice["fp32_max_abs_diff"] <= FP32_ATOL
    allowed = choose_runtime(model, tmp_path, kind="auto", int8={"within_tolerance": True})
    assert set(allowed.choice["seq_per_s"]) == {"torch", "onnx", "onnx-int8"}
    best = max(allowed.choice["seq_per_s"], key=allowed.choice["seq_per_s"].get)
    assert allowed.name == best
    # Without a stored check, auto measures it on the sample and records it.
    measured = choose_runtime(model, tmp_path, kind="auto")
    check = measured.choice["int8"]
    assert check["n"] == 64 and check["tolerance"] == INT8_TOLERANCE
    assert check["criterion"] == "output difference"
    assert list(check["variants"]) == ["dynamic"]  # no registered sample: dynamic only
    assert (check["runtime"] in measured.choice["seq_per_s"]) == check["within_tolerance"]


@pytest.mark.slow
def test_registration_stores_the_int8_check(serving_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bizmodel.inference.cost import measure_model_dir
    from bizmodel.registry import Registry

    path, loader = serving_model
    held = (HEADLINE_PAIRS[:8], HEADLINES[:8])  # (company, headline) as the model reads them

    def measure(d):  # type: ignore[no-untyped-def]
        return measure_model_dir(d, loader=loader, n=8, batch_sizes=(4,), int8=True, sample=held)

    mv = Registry(tmp_path).register(path, "m", measure=measure)
    check = mv.inference_cost["int8"]
    assert check["sample"] == "held-out file"  # static variants tried: a third calibrates
    assert (check["calibration_rows"], check["gate_rows"]) == (2, 6)
    # the shown check (the chosen variant, else the first: dynamic) was decided on its rows:
    # every row for dynamic variants (fitted to none), the gate rows for static ones
    dynamic = INT8_VARIANTS[check["variant"] or "dynamic"].mode == "dynamic"
    assert check["n"] == (8 if dynamic else 6)
    assert check["mean_abs_diff"] >= 0 and isinstance(check["within_tolerance"], bool)
    assert re.search(
        r"int8( \([a-z-]+(; none of \d+ passed)?\))? vs fp32: mean \|diff\|", mv.summary()
    )
    assert (mv.path / "onnx" / "model.int8.onnx").is_file()


def test_int8_check_with_labels_gates_on_the_task_metric() -> None:
    a = np.linspace(-1.0, 1.0, 11)
    y = a + np.array([0.05, -0.05] * 5 + [0.0])
    far = _Fixed(list(a + 0.2 * np.sin(7 * a)))  # far in outputs, worse correlation
    near_shift = _Fixed(list(a + 0.3))  # far in outputs (0.3 / std), same Pearson
    shifted = int8_check(_Fixed(list(a)), near_shift, ["t"] * 11, targets=list(y))
    assert shifted["criterion"] == "task metric" and shifted["within_tolerance"]
    assert shifted["relative_diff"] > INT8_TOLERANCE  # the output gate alone would refuse
    worse = int8_check(_Fixed(list(a)), far, ["t"] * 11, targets=list(y))
    assert worse["metric_delta"] == pytest.approx(
        pearsonr(y, a)[0] - pearsonr(y, a + 0.2 * np.sin(7 * a))[0]
    )
    assert worse["metric_delta"] > 0.005 and not worse["within_tolerance"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    flipped = probs.copy()
    flipped[2] = [0.4, 0.6]
    c = int8_check(
        _Fixed(probs),
        _Fixed(flipped),
        ["t"] * 4,
        targets=["neg", "pos", "neg", "pos"],
        labels=["neg", "pos"],
    )
    assert (c["fp32_metric"], c["int8_metric"]) == (1.0, pytest.approx(0.7333, abs=1e-4))
    with pytest.raises(DataError, match=r"labels \['meh'\] are not the model's classes"):
        int8_check(_Fixed(probs), _Fixed(probs), ["t"] * 4, targets=["meh"] * 4, labels=["a", "b"])
