"""int8 variants of an exported fp32 graph: dynamic, and static (QDQ) calibrated on a sample.

- **dynamic**: weights int8 per channel; each activation's scale is computed at run time from
  the batch (``DynamicQuantizeLinear`` before every ``MatMulInteger``). No calibration data.
- **static**: weights int8 per channel; each activation's scale and zero point are fixed in
  advance from the value range seen on a calibration sample (ONNX Runtime's QDQ format:
  ``QuantizeLinear``/``DequantizeLinear`` pairs on the MatMul's inputs, which its CPU
  provider fuses into ``MatMulIntegerToFloat``; the output stays fp32). No per-batch range
  pass at run time, the ranges are chosen on the registered rows instead of on each batch's
  extremes, and a row's output does not depend on the rows batched with it.
- **edges** (either mode): the first and last encoder layer's weight MatMuls stay fp32 — the
  layers whose rounding reaches the output least diluted (the first one's through all others,
  the last one's straight into the pooled vector).
- **ffn** (static): each layer's feed-forward down-projection stays fp32 (its input, a GELU
  output, is the most long-tailed activation: one static range fits it worst).

Only MatMuls with a constant weight are quantised (the attention scores ``Q·Kᵀ`` and ``A·V``,
the pooler and the head, which are ``Gemm`` nodes, stay fp32). Which variant is served is
measured, not assumed: :func:`bizmodel.inference.choice.select_int8`, which calibrates on one
part of the registered sample and gates on the rest (:func:`split_calibration`), so a static
variant is never judged on the rows its ranges were fitted to, and serves a variant only when
the 95% bootstrap bound of its task-metric loss is within tolerance (dynamic ones: in every
batching checked, since their outputs depend on the batch).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError


@dataclass(frozen=True)
class Int8Variant:
    """One way to quantise a graph to int8 (see the module docstring)."""

    name: str  # the runtime is called "onnx-int8" (dynamic) or "onnx-int8-<name>"
    mode: str  # "dynamic" (activation ranges per batch) or "static" (calibrated ranges)
    keep_edges: bool = False  # the first and last encoder layer's MatMuls stay fp32
    keep_ffn_down: bool = False  # the feed-forward down-projections stay fp32
    reduce_range: bool = False  # 7-bit weights: no int16 overflow on CPUs without VNNI
    calibration: str = "minmax"  # static: "minmax" or "percentile" (99.999th of |x|)

    @property
    def file_name(self) -> str:
        return "model.int8.onnx" if self.name == "dynamic" else f"model.int8-{self.name}.onnx"

    @property
    def runtime_name(self) -> str:
        return "onnx-int8" if self.name == "dynamic" else f"onnx-int8-{self.name}"


INT8_VARIANTS: dict[str, Int8Variant] = {
    v.name: v
    for v in (
        Int8Variant("dynamic", "dynamic"),
        Int8Variant("dynamic-edges", "dynamic", keep_edges=True),
        Int8Variant("static", "static"),
        Int8Variant("static-edges", "static", keep_edges=True),
        Int8Variant("static-ffn", "static", keep_ffn_down=True),
        Int8Variant("static-percentile", "static", calibration="percentile"),
    )
}


#: Rows of the registered sample that calibrate static ranges: a third, at most this many.
CALIBRATION_MAX_ROWS = 128


def split_calibration(n: int, *, seed: int = 0) -> tuple[list[int], list[int]]:
    """Disjoint row indices ``(calibration, gate)`` of a sample of ``n`` rows.

    A seeded shuffle (the same split for the same ``n``, whatever the machine) puts a third
    of the rows (at least 1, at most :data:`CALIBRATION_MAX_ROWS`) in calibration and the
    rest in the gate, each part in the sample's order. A sample sorted by its target still
    gives both parts its whole range.

    Raises
    ------
    ConfigError
        With fewer than 2 rows (one to calibrate on, one to check).

    Examples
    --------
    >>> cal, gate = split_calibration(9)
    >>> len(cal), len(gate), sorted(cal + gate) == list(range(9))
    (3, 6, True)
    >>> split_calibration(9) == (cal, gate)  # the same split every time
    True
    >>> [len(part) for part in split_calibration(512)]
    [128, 384]
    """
    if n < 2:
        raise ConfigError(
            f"the int8 check needs at least 2 sample rows (1 to calibrate on, 1 to check), got {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    k = min(CALIBRATION_MAX_ROWS, max(1, n // 3))
    return sorted(order[:k].tolist()), sorted(order[k:].tolist())


def int8_variant(name: str | Int8Variant) -> Int8Variant:
    """The variant called ``name`` (an :class:`Int8Variant` is returned as it is)."""
    if isinstance(name, Int8Variant):
        return name
    try:
        return INT8_VARIANTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown int8 variant {name!r}; valid: {', '.join(INT8_VARIANTS)}"
        ) from None


def weight_matmuls(graph: Any) -> list[str]:
    """Names of the MatMul nodes whose second input is a constant (a weight), in graph order."""
    consts = {t.name for t in graph.initializer}
    consts |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in consts]


def edge_nodes(fp32_path: str | Path, num_layers: int | None) -> list[str]:
    """The weight MatMuls of the first and last of ``num_layers`` encoder layers.

    Layers are taken as equal runs of weight MatMuls in graph order (the traced encoder
    repeats one block), so no architecture's node names are assumed.

    Raises
    ------
    ConfigError
        When the layer count is unknown or does not divide the weight MatMuls evenly.
    """
    import onnx

    names = weight_matmuls(onnx.load(str(fp32_path), load_external_data=False).graph)
    if not num_layers or num_layers < 2 or len(names) % num_layers:
        raise ConfigError(
            f"cannot find the first and last layer: {len(names)} weight MatMuls in "
            f"{fp32_path} for {num_layers} layers"
        )
    per = len(names) // num_layers
    return names[:per] + names[-per:]


def ffn_down_nodes(fp32_path: str | Path) -> list[str]:
    """The weight MatMuls with the widest input: each layer's feed-forward down-projection.

    Their input is the GELU of the widened hidden state, a long-tailed activation whose
    calibrated range is set by a few large values, so static rounding of the rest is
    coarsest there. Found by the weights' shapes (``K x N``, the largest ``K``), not names.
    """
    import onnx

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    by_name = {n.name: n for n in graph.node}
    width = {n: shapes.get(by_name[n].input[1], (0,))[0] for n in weight_matmuls(graph)}
    widest = max(width.values(), default=0)
    if not widest or widest == min(width.values()):
        raise ConfigError(f"no feed-forward down-projection in {fp32_path}: all MatMuls alike")
    return [n for n, k in width.items() if k == widest]


class _Feeds:
    """ONNX Runtime's ``CalibrationDataReader``: padded batches of the calibration rows."""

    def __init__(self, batches: Sequence[dict[str, np.ndarray]]) -> None:
        self._it = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def __len__(self) -> int:  # calibrate.py asks for it in newer versions
        return 0


def _same_width(batches: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """One-row batches right-padded with zeros (attention mask 0) to the longest row: ONNX
    Runtime's histogram calibrators stack every batch's activations into one array."""
    width = max(b["input_ids"].shape[1] for b in batches)
    return [
        {k: np.pad(x[i : i + 1], ((0, 0), (0, width - x.shape[1]))) for k, x in b.items()}
        for b in batches
        for i in range(len(b["input_ids"]))
    ]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer's "consider pre-processing" advice is logged on the root logger; the
    histogram calibrators print their progress."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def quantize_graph(
    fp32_path: str | Path,
    dst: str | Path,
    variant: str | Int8Variant,
    *,
    calibration: Sequence[dict[str, np.ndarray]] | None = None,
    num_layers: int | None = None,
) -> Path:
    """Write the int8 ``variant`` of the fp32 graph ``fp32_path`` to ``dst``.

    Parameters
    ----------
    fp32_path, dst : path
        The traced fp32 graph and where to write the int8 one (written to a temporary name
        and renamed, so a reader never sees half a graph).
    variant : str or Int8Variant
        A name from :data:`INT8_VARIANTS`.
    calibration : sequence of dict, optional
        Padded input batches (``input_ids``, ``attention_mask``, ...): needed by static
        variants, whose activation ranges are measured on them.
    num_layers : int, optional
        The encoder's layer count (its config's ``num_hidden_layers``): needed by ``edges``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    v = int8_variant(variant)
    exclude = edge_nodes(fp32_path, num_layers) if v.keep_edges else []
    exclude += ffn_down_nodes(fp32_path) if v.keep_ffn_down else []
    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    # Named explicitly: the QDQ quantizer ignores MatMulConstBOnly and would quantise the
    # attention scores (activation x activation) with one static range too.
    chosen = [n for n in weight_matmuls(graph) if n not in set(exclude)]
    if v.mode == "static" and not calibration:
        raise ConfigError(f"the static int8 variant {v.name!r} needs calibration rows")
    if v.mode == "static" and v.calibration != "minmax":
        calibration = _same_width(calibration or [])
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.{uuid.uuid4().hex}.onnx")
    try:
        with _quiet():
            if v.mode == "dynamic":
                # Per-channel weight scales, MatMul only: 3x smaller error than the per-tensor
                # default on MiniLM, and the embedding Gather left fp32 is faster.
                quantize_dynamic(
                    str(fp32_path),
                    str(tmp),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    reduce_range=v.reduce_range,
                    op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=exclude,
                )
            else:
                method = {
                    "minmax": CalibrationMethod.MinMax,
                    "percentile": CalibrationMethod.Percentile,
                }[v.calibration]
                quantize_static(
                    str(fp32_path),
                    str(tmp),
                    _Feeds(calibration or []),
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["MatMul"],
                    per_channel=True,
                    reduce_range=v.reduce_range,
                    activation_type=QuantType.QUInt8,  # u8 x s8: the x86 VNNI kernels
                    weight_type=QuantType.QInt8,
                    nodes_to_quantize=chosen,
                    calibrate_method=method,
                    # Inputs only: the MatMul's output feeds the bias Add in fp32 (ORT fuses
                    # DQ + MatMul into MatMulIntegerToFloat), no second rounding.
                    extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]},
                )
    except Exception as exc:  # the quantizer raises many types; report one clear error
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot quantise {fp32_path} ({v.name} int8): {exc}") from exc
    finally:
        # quantize_static leaves its augmented graph beside the output on some versions
        for stray in dst.parent.glob(f".{dst.stem}.*-augmented*"):
            stray.unlink(missing_ok=True)
    os.replace(tmp, dst)
    return dst
