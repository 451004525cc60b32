"""int8 variants: static (QDQ) export, the choice among variants, what the registry records.

Speeds are injected (``speed=``) and checks constructed, so nothing here reads the machine's
momentary speed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import pytest

from bizmodel.errors import ConfigError
from bizmodel.finetune import load_model
from bizmodel.inference import INT8_VARIANTS, OnnxRuntime, choose_runtime, export_onnx
from bizmodel.inference import choice as choice_module
from bizmodel.inference.choice import DEFAULT_INT8_VARIANTS, rows_to_pass, select_int8
from bizmodel.inference.quantize import edge_nodes, ffn_down_nodes, weight_matmuls

_FIRMS = ["Morrisons", "IMI", "Aviva", "Glencore", "Tesco", "Barclays"]
_VERBS = ["raises", "cuts", "beats", "misses"]
PAIRS = [f for f in _FIRMS for _ in _VERBS]
TEXTS = [f"{f} {v} profit forecast after strong quarter" for f in _FIRMS for v in _VERBS]


@pytest.fixture(scope="module")
def model(tiny_mean_pooled_model_dir: str) -> Any:
    return load_model(tiny_mean_pooled_model_dir)


def _pairs(model: Any) -> list[str] | None:
    return PAIRS if model.text_pair_column else None


def _int8_first(rt: Any) -> float:
    """An injected speed: any int8 runtime beats fp32, fp32 ONNX beats torch."""
    return {"torch": 1.0, "onnx": 2.0}.get(rt.name, 3.0)


def _ops(path: Any) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_static_variant_is_exported_calibrated_and_loads(model: Any, tmp_path: Any) -> None:
    sample = (TEXTS, _pairs(model))
    path = export_onnx(model, tmp_path, quantize="static", calibration=sample)
    assert path.name == "model.int8-static.onnx"
    ops = _ops(path)
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ, not MatMulInteger
    assert "DynamicQuantizeLinear" not in ops
    rt = OnnxRuntime(model, path, threads=1)
    assert rt.name == "onnx-int8-static"
    fp32 = OnnxRuntime(model, export_onnx(model, tmp_path), threads=1)
    got, want = rt.predict(TEXTS, _pairs(model)), fp32.predict(TEXTS, _pairs(model))
    assert got.shape == want.shape and np.all(np.isfinite(got))
    assert np.corrcoef(got, want)[0, 1] > 0.9
    # the dynamic graph keeps its old name and runtime name
    dyn = export_onnx(model, tmp_path, quantize=True)
    assert dyn.name == "model.int8.onnx" and OnnxRuntime(model, dyn).name == "onnx-int8"


def test_edges_keep_the_first_and_last_layer_in_fp32(model: Any, tmp_path: Any) -> None:
    fp32 = export_onnx(model, tmp_path)
    layers = model.module.encoder.config.num_hidden_layers
    names = weight_matmuls(onnx.load(str(fp32)).graph)
    kept = edge_nodes(fp32, layers)
    per = len(names) // layers
    assert kept == names[:per] + names[-per:]
    path = export_onnx(model, tmp_path, quantize="dynamic-edges")
    graph = onnx.load(str(path)).graph
    fp32_matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert set(kept) <= fp32_matmuls  # untouched MatMuls
    every = _ops(export_onnx(model, tmp_path, quantize="dynamic")).count("MatMulInteger")
    assert _ops(path).count("MatMulInteger") == every - 2 * per
    with pytest.raises(ConfigError, match="cannot find the first and last layer"):
        edge_nodes(fp32, len(names) + 1)
    # the feed-forward down-projections: one per layer, found by the weights' widest input
    ffn = ffn_down_nodes(fp32)
    assert len(ffn) == layers and set(ffn) <= set(names)
    static = export_onnx(model, tmp_path, quantize="static-ffn", calibration=(TEXTS, _pairs(model)))
    nodes = onnx.load(str(static)).graph.node
    dq = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    quantized = {n.name for n in nodes if n.op_type == "MatMul" and set(n.input) & dq}
    assert quantized and not quantized & set(ffn)  # no Q/DQ around them: fp32 MatMuls
    assert quantized == set(names) - set(ffn)


def test_unknown_variant_is_a_config_error(model: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="unknown int8 variant 'int4'; valid: dynamic"):
        export_onnx(model, tmp_path, quantize="int4")


def test_select_int8_keeps_the_fastest_variant_that_passes(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdicts = {"onnx-int8": True, "onnx-int8-static": True, "onnx-int8-static-edges": False}
    real = choice_module.int8_check

    def check(fp32: Any, int8: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        return {**real(fp32, int8, *args, **kw), "within_tolerance": verdicts[int8.name]}

    monkeypatch.setattr(choice_module, "int8_check", check)
    variants = ("dynamic", "static", "static-edges")
    speeds = {"onnx-int8": 10.0, "onnx-int8-static": 20.0, "onnx-int8-static-edges": 99.0}
    got = select_int8(
        model, tmp_path, TEXTS, _pairs(model), variants=variants, speed=lambda rt: speeds[rt.name]
    )
    # static-edges is fastest but failed its check: the fastest that passed is static
    assert (got["variant"], got["runtime"], got["within_tolerance"]) == (
        "static",
        "onnx-int8-static",
        True,
    )
    assert list(got["variants"]) == list(variants)
    assert got["variants"]["static"]["pred_per_cpu_s"] == 20.0
    assert "pred_per_cpu_s" not in got["variants"]["static-edges"]
    assert got["n"] == got["gate_rows"] == len(TEXTS) - got["calibration_rows"]  # held out
    assert got["criterion"] == "output difference"

    verdicts.update({"onnx-int8": False, "onnx-int8-static": False})
    none = select_int8(model, tmp_path, TEXTS, _pairs(model), variants=variants, speed=len)
    assert (none["variant"], none["runtime"], none["within_tolerance"]) == (None, None, False)
    assert none["mean_abs_diff"] == none["variants"]["dynamic"]["mean_abs_diff"]


def test_auto_serves_the_stored_variant_or_fp32_when_none_passed(model: Any, tmp_path: Any) -> None:
    passed = {"within_tolerance": True, "variant": "static", "runtime": "onnx-int8-static"}
    rt = choose_runtime(
        model, tmp_path, sample_texts=TEXTS, sample_pairs=PAIRS, int8=passed, speed=_int8_first
    )
    assert rt.name == "onnx-int8-static" and rt.choice is not None
    assert set(rt.choice["seq_per_s"]) == {"torch", "onnx", "onnx-int8-static"}
    assert rt.choice["int8"] is passed
    failed = {"within_tolerance": False, "variant": None, "runtime": None}
    rt = choose_runtime(
        model, tmp_path, sample_texts=TEXTS, sample_pairs=PAIRS, int8=failed, speed=_int8_first
    )
    assert rt.name == "onnx" and set(rt.choice["seq_per_s"]) == {"torch", "onnx"}
    # a check stored before variants existed allowed the dynamic graph
    old = choose_runtime(
        model,
        tmp_path,
        sample_texts=TEXTS,
        sample_pairs=PAIRS,
        int8={"within_tolerance": True},
        speed=_int8_first,
    )
    assert old.name == "onnx-int8"


def test_registration_records_each_variant_and_the_choice(
    tiny_mean_pooled_model_dir: str, tmp_path: Any
) -> None:
    from bizmodel.inference.cost import measure_model_dir
    from bizmodel.registry import Registry

    held = (PAIRS, TEXTS)  # (company, headline) as the model reads them
    targets = list(np.linspace(-0.5, 0.5, len(TEXTS)))

    def measure(d: Any) -> dict[str, Any]:
        return measure_model_dir(
            d, n=8, batch_sizes=(4,), repeats=1, int8=True, sample=held, sample_targets=targets
        )

    mv = Registry(tmp_path).register(tiny_mean_pooled_model_dir, "m", measure=measure)
    stored = Registry(tmp_path).get("m").inference_cost["int8"]
    assert stored == mv.inference_cost["int8"]
    assert list(stored["variants"]) == list(DEFAULT_INT8_VARIANTS)
    assert stored["criterion"] == "task metric" and stored["sample"] == "held-out file"
    passing = [n for n, c in stored["variants"].items() if c["within_tolerance"]]
    assert stored["within_tolerance"] == bool(passing)
    # dynamic variants (fitted to no rows) are gated on every row, static ones on the rest
    sizes = {n: c["n"] for n, c in stored["variants"].items() if "error" not in c}
    gate = stored["gate_rows"]
    assert sizes == {n: len(TEXTS) if INT8_VARIANTS[n].mode == "dynamic" else gate for n in sizes}
    assert re.search(
        r"\n    (not )?served: 95% upper bound of the pearson loss -?\d\.\d{4} (<=|>) 0\.005 "
        rf"\(paired bootstrap, 2000 resamples of ({gate}|{len(TEXTS)}) rows, seed 0",
        mv.summary(),
    )
    if passing:
        assert stored["variant"] in passing
        assert stored["runtime"] == INT8_VARIANTS[stored["variant"]].runtime_name
        assert f"int8 ({stored['variant']}) vs fp32: pearson" in mv.summary()
    else:
        assert stored["variant"] is None and stored["shown"] in stored["variants"]
        n = len(stored["variants"])
        assert f"int8 ({stored['shown']}; none of {n} passed) vs fp32: pearson" in mv.summary()
    helps = {k: r for k, c in stored["variants"].items() if (r := rows_to_pass(c)) is not None}
    if helps and not passing:  # the smallest count that could let a variant pass
        best = min(helps, key=lambda k: helps[k])
        assert (
            f"\n    more labelled rows in --sample may let int8 {best} pass: at its observed "
            f"loss its bound would reach 0.005 with about {helps[best]:,} rows"
        ) in mv.summary()
    else:
        assert "more labelled rows" not in mv.summary()
    kept = {"model.onnx", "model.int8.onnx"} | (
        {INT8_VARIANTS[stored["variant"]].file_name} if stored["variant"] else set()
    )
    assert {p.name for p in (mv.path / "onnx").iterdir()} == kept  # the others deleted
