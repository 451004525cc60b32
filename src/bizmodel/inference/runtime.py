"""Inference runtimes for a fine-tuned model: PyTorch and ONNX Runtime (fp32 or dynamic int8).

Both take texts (and optional second texts of a pair), tokenize them in length-sorted batches
with dynamic padding, and return what ``FineTunedModel.predict`` returns: an ``(n,)`` array of
regression values in target units, or ``(n, K)`` class probabilities (softmax of the logits).
The model is anything with the attributes of ``bizmodel.finetune.FineTunedModel``: ``task``,
``labels``, ``tokenizer``, ``module`` and ``info``.

Parity: the ONNX fp32 graph matches PyTorch within :data:`FP32_ATOL` (absolute, in output
units). Dynamic int8 quantisation (per-channel weights, MatMul only) is lossy: its outputs
correlate with PyTorch's at Pearson r >= :data:`INT8_MIN_CORR`; its effect on the task metric is
measured by ``benchmarks/batch_inference.py``.
"""

from __future__ import annotations

import inspect
import os
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bizmodel.errors import ConfigError, DataError

FP32_ATOL = 1e-4  # ONNX fp32 vs PyTorch, absolute, output units (values or probabilities)
INT8_MIN_CORR = 0.98  # dynamic int8 vs PyTorch: Pearson r of outputs (a sanity bound)
DEFAULT_MAX_LENGTH = 256


class ServableModel(Protocol):
    task: str
    labels: Any
    tokenizer: Any
    module: Any
    info: dict[str, Any]


def _max_length(model: ServableModel) -> int:
    info = getattr(model, "info", None) or {}
    return int(info.get("max_length") or DEFAULT_MAX_LENGTH)


def _input_names(module: Any) -> list[str]:
    params = inspect.signature(module.forward).parameters
    names = ["input_ids", "attention_mask"]
    return [*names, "token_type_ids"] if "token_type_ids" in params else names


def _check_inputs(texts: Sequence[str], pairs: Sequence[str] | None) -> None:
    if pairs is not None and len(pairs) != len(texts):
        raise DataError(f"got {len(texts)} texts but {len(pairs)} text pairs; they must match")


def _postprocess(task: str, out: np.ndarray) -> np.ndarray:
    if task == "classification":
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    return out.reshape(-1)


class Runtime:
    """Common batching logic; subclasses implement :meth:`_forward` on one padded batch."""

    name = "base"

    def __init__(self, model: ServableModel) -> None:
        self.model = model
        self.task = model.task
        self.max_length = _max_length(model)
        self.input_names = _input_names(model.module)

    def _encode(self, texts: Sequence[str], pairs: Sequence[str] | None) -> dict[str, np.ndarray]:
        enc = self.model.tokenizer(
            list(texts),
            list(pairs) if pairs is not None else None,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="np",
        )
        return {k: np.asarray(enc[k], dtype=np.int64) for k in self.input_names}

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None, *, batch_size: int = 32
    ) -> np.ndarray:
        """Predict in length-sorted batches of ``batch_size``; results in input order."""
        _check_inputs(texts, text_pairs)
        n = len(texts)
        if n == 0:
            return np.zeros((0,), dtype=np.float32)
        # Sorting by length keeps padding (wasted FLOPs) small inside each batch.
        lengths = [len(t) + (len(text_pairs[i]) if text_pairs else 0) for i, t in enumerate(texts)]
        order = np.argsort(lengths, kind="stable")
        outs: list[np.ndarray] = []
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = self._encode(
                [texts[i] for i in idx], [text_pairs[i] for i in idx] if text_pairs else None
            )
            outs.append(self._forward(batch))
        result = _postprocess(self.task, np.concatenate(outs, axis=0))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        return result[inverse]


class TorchRuntime(Runtime):
    """The model's own PyTorch module under ``torch.inference_mode``."""

    name = "torch"

    def __init__(self, model: ServableModel) -> None:
        super().__init__(model)
        self.module = model.module.eval()

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(batch[k]) for k in self.input_names))
        if isinstance(out, tuple | list):
            out = out[0]
        return np.asarray(out.float().numpy())


class OnnxRuntime(Runtime):
    """ONNX Runtime on a graph exported by :func:`export_onnx`."""

    def __init__(self, model: ServableModel, onnx_path: str | Path, *, threads: int | None = None):
        super().__init__(model)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # No busy-waiting between parallel sections: on shared or busy cores spinning threads
        # steal the CPU the other threads (HTTP, logging) need.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.name = "onnx-int8" if "int8" in self.path.name else "onnx"

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, batch)[0], dtype=np.float32)


def export_onnx(model: ServableModel, out_dir: str | Path, *, quantize: bool = False) -> Path:
    """Export ``model.module`` to ``out_dir/model.onnx`` (and ``model.int8.onnx`` if
    ``quantize``) with dynamic batch and sequence axes; return the path to use.

    Files are written under a temporary name and renamed, so a reader never sees half a graph.
    An existing export is reused.
    """
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model.onnx"
    if not fp32.is_file():
        names = _input_names(model.module)
        sample = model.tokenizer(["a sample text", "b"], return_tensors="pt", padding=True)
        args = tuple(sample[k] for k in names)
        axes = {k: {0: "batch", 1: "sequence"} for k in names}
        axes["output"] = {0: "batch"}
        tmp = out / f".model.{uuid.uuid4().hex}.onnx"
        module = model.module.eval()
        try:
            # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
            # onnxscript; the TorchScript graph is what ONNX Runtime optimises well here.
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.onnx.export(
                    module,
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=names,
                    output_names=["output"],
                    dynamic_axes=axes,
                    opset_version=17,
                )
        except Exception as exc:  # the exporter raises many types; report one clear error
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot export the model to ONNX: {exc}") from exc
        os.replace(tmp, fp32)
    if not quantize:
        return fp32
    int8 = out / "model.int8.onnx"
    if not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = out / f".model.{uuid.uuid4().hex}.int8.onnx"
        # Per-channel weight scales and MatMul-only quantisation: 3x smaller error than the
        # per-tensor default on MiniLM, and leaving the embedding Gather in fp32 is faster.
        quantize_dynamic(
            str(fp32),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        os.replace(tmp, int8)
    return int8


def max_abs_diff(
    a: Runtime, b: Runtime, texts: Sequence[str], pairs: Sequence[str] | None = None
) -> float:
    """Largest absolute difference between two runtimes' outputs on the same inputs."""
    return float(np.max(np.abs(a.predict(texts, pairs) - b.predict(texts, pairs))))


def throughput(
    runtime: Runtime,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 8,
    repeats: int = 3,
) -> float:
    """Best-of-``repeats`` sequences per second of ``runtime.predict``."""
    runtime.predict(texts[: min(len(texts), batch_size)], pairs[:batch_size] if pairs else None)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        runtime.predict(texts, pairs, batch_size=batch_size)
        best = max(best, len(texts) / (time.perf_counter() - t0))
    return best


def choose_runtime(
    model: ServableModel,
    onnx_dir: str | Path,
    *,
    kind: str = "auto",
    sample_texts: Sequence[str] | None = None,
    quantize: bool = False,
    threads: int | None = None,
) -> Runtime:
    """Build the runtime ``kind`` (``torch``, ``onnx``, ``onnx-int8``) or, for ``auto``, the
    faster of PyTorch and ONNX Runtime measured on ``sample_texts`` — after checking that
    ONNX agrees with PyTorch within :data:`FP32_ATOL` (falls back to PyTorch otherwise)."""
    if kind not in ("auto", "torch", "onnx", "onnx-int8"):
        raise ConfigError(f"runtime must be auto, torch, onnx or onnx-int8, got {kind!r}")
    if kind == "torch":
        return TorchRuntime(model)
    if kind in ("onnx", "onnx-int8"):
        path = export_onnx(model, onnx_dir, quantize=kind == "onnx-int8")
        return OnnxRuntime(model, path, threads=threads)
    torch_rt = TorchRuntime(model)
    onnx_rt = OnnxRuntime(model, export_onnx(model, onnx_dir, quantize=quantize), threads=threads)
    texts = list(sample_texts or [f"sample headline number {i} about earnings" for i in range(32)])
    if quantize:
        a, b = torch_rt.predict(texts), onnx_rt.predict(texts)
        if np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1] < INT8_MIN_CORR:
            return torch_rt
    elif max_abs_diff(torch_rt, onnx_rt, texts[:16]) > FP32_ATOL:
        return torch_rt
    if throughput(onnx_rt, texts) >= throughput(torch_rt, texts):
        return onnx_rt
    return torch_rt
