"""Inference runtimes for a fine-tuned model: PyTorch and ONNX Runtime (fp32 or dynamic int8).

Both take texts (and optional second texts of a pair), tokenize them in length-sorted batches
with dynamic padding, and return what ``FineTunedModel.predict`` returns: an ``(n,)`` array of
regression values in target units, or ``(n, K)`` class probabilities (softmax of the logits).
The model is anything with the attributes of ``bizmodel.finetune.FineTunedModel``: ``task``,
``labels``, ``tokenizer``, ``module`` and ``info``.

Export: the encoder is traced with eager attention (the SDPA trace hides the attention pattern
from ONNX Runtime); on request BERT-family graphs go through ONNX Runtime's transformer
optimizer (fused ``Attention``, ``EmbedLayerNormalization``, ``SkipLayerNormalization``,
``BiasGelu``) — measured slower than the traced graph on MiniLM here, so off by default.

Parity: the ONNX fp32 graph (plain and optimised) matches PyTorch within :data:`FP32_ATOL`
(absolute, in output units). Dynamic int8 quantisation (per-channel weights, MatMul only) is
lossy: :func:`int8_check` measures how far its outputs are from fp32 on a held-out sample and
``auto`` serves int8 only when that distance is within :data:`INT8_TOLERANCE`; its effect on
the task metric is measured by ``benchmarks/batch_inference.py``.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bizmodel.errors import ConfigError, DataError

FP32_ATOL = 1e-4  # ONNX fp32 vs PyTorch, absolute, output units (values or probabilities)
INT8_MIN_CORR = 0.98  # dynamic int8 vs PyTorch: Pearson r of outputs (a sanity bound)
# auto serves int8 when mean |int8 - fp32| <= INT8_TOLERANCE * std(fp32 outputs) on a held-out
# sample (and, for classifiers, the top label agrees on >= INT8_MIN_LABEL_AGREEMENT of rows).
INT8_TOLERANCE = 0.05
INT8_MIN_LABEL_AGREEMENT = 0.98
# With labelled held-out rows the gate is the task metric instead (the criterion):
# int8 may lose at most INT8_METRIC_TOLERANCE of Pearson (regression) or macro-F1 (classes).
INT8_METRIC_TOLERANCE = 0.005
# Model types whose graphs ONNX Runtime's "bert" transformer optimizer fuses.
_BERT_LIKE = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert")
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
    choice: dict[str, Any] | None = None  # why choose_runtime("auto") picked this runtime

    def __init__(self, model: ServableModel) -> None:
        self.model = model
        self.task = model.task
        self.max_length = _max_length(model)
        self.input_names = _input_names(model.module)

    def _tokenize(self, texts: Sequence[str], pairs: Sequence[str] | None) -> dict[str, list]:
        """One fast-tokenizer pass over all rows, truncated, unpadded."""
        enc = self.model.tokenizer(
            list(texts),
            list(pairs) if pairs is not None else None,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids="token_type_ids" in self.input_names,
        )
        return {k: enc[k] for k in ("input_ids", "token_type_ids") if k in enc}

    def _pad(self, enc: dict[str, list], idx: np.ndarray) -> dict[str, np.ndarray]:
        """The rows ``idx`` of ``enc`` padded to their longest, as the tokenizer would pad."""
        tok = self.model.tokenizer
        rows = [enc["input_ids"][i] for i in idx]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), tok.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.full((len(rows), width), getattr(tok, "pad_token_type_id", 0), dtype=np.int64)
        left = getattr(tok, "padding_side", "right") == "left"
        for j, i in enumerate(idx):
            n = len(rows[j])
            cols = slice(width - n, width) if left else slice(0, n)
            ids[j, cols] = rows[j]
            mask[j, cols] = 1
            if "token_type_ids" in enc:
                types[j, cols] = enc["token_type_ids"][i]
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: batch[k] for k in self.input_names}

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _map_batches(self, run: Any, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """``run(idx, forward)`` for every batch of row indices, in order (sequential here)."""
        return [run(idx, self._forward) for idx in chunks]

    def predict(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None, *, batch_size: int = 32
    ) -> np.ndarray:
        """Predict in length-sorted batches of ``batch_size``; results in input order."""
        _check_inputs(texts, text_pairs)
        n = len(texts)
        if n == 0:
            return np.zeros((0,), dtype=np.float32)
        # One tokenizer pass (here, in the calling thread: the fast tokenizer's settings are
        # shared state), then batches sorted by token count and padded in numpy: sorting keeps
        # padding (wasted FLOPs) small inside each batch. By characters, SemEval headline pairs
        # were padded to 1.38x their tokens, by tokens 1.0x-1.05x.
        enc = self._tokenize(texts, text_pairs)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        chunks = [order[start : start + batch_size] for start in range(0, n, batch_size)]

        def run(idx: np.ndarray, forward: Any) -> np.ndarray:
            return np.asarray(forward(self._pad(enc, idx)))

        outs = self._map_batches(run, chunks)
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

    def __init__(
        self,
        model: ServableModel,
        onnx_path: str | Path,
        *,
        threads: int | None = None,
        spinning: bool = False,
    ):
        super().__init__(model)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No busy-waiting between parallel sections by default: on shared or busy cores
        # spinning threads steal the CPU the other threads (HTTP, logging) need.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.name = "onnx-int8" if "int8" in self.path.name else "onnx"
        self.workers = int(threads or os.cpu_count() or 1)
        self._spinning = spinning
        self._single: Any = None  # one-thread session for batch-parallel runs, made on demand
        self._lock = threading.Lock()

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, batch)[0], dtype=np.float32)

    def _single_thread_session(self) -> Any:
        with self._lock:
            if self._single is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.add_session_config_entry(
                    "session.intra_op.allow_spinning", "1" if self._spinning else "0"
                )
                self._single = ort.InferenceSession(
                    str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            return self._single

    def _map_batches(self, run: Any, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """Several batches: one batch per thread, each on a one-thread session.

        A 32 x 20-token batch of MiniLM splits into GEMMs too small to keep two intra-op
        threads busy; whole batches side by side (``session.run`` releases the GIL) ran at
        1.1x-1.2x the rate of one two-thread session on 2 cores (``docs/benchmarks.md``).
        Tokenizing happened before, in the caller's thread. Outputs are the same up to float
        rounding (dynamic int8 quantises each batch with its own scale, so int8 outputs
        depend on which rows share a batch, as before). One batch (the server's
        micro-batches) keeps the multi-thread session for its latency.
        """
        if self.workers < 2 or len(chunks) < 2:
            return super()._map_batches(run, chunks)
        session = self._single_thread_session()

        def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(session.run(None, batch)[0], dtype=np.float32)

        with ThreadPoolExecutor(min(self.workers, len(chunks))) as pool:
            return list(pool.map(lambda idx: run(idx, forward), chunks))


def _encoder_config(model: ServableModel) -> Any:
    encoder = getattr(model.module, "encoder", None)
    return getattr(encoder, "config", None)


def _trace(model: ServableModel, path: Path) -> None:
    """Trace ``model.module`` to ``path`` (dynamic batch and sequence axes), eager attention."""
    import torch

    names = _input_names(model.module)
    sample = model.tokenizer(["a sample text", "b"], return_tensors="pt", padding=True)
    args = tuple(sample[k] for k in names)
    axes = {k: {0: "batch", 1: "sequence"} for k in names}
    axes["output"] = {0: "batch"}
    module = model.module.eval()
    encoder = getattr(module, "encoder", None)
    config = _encoder_config(model)
    before = getattr(config, "_attn_implementation", None)
    switch = before not in (None, "eager") and hasattr(encoder, "set_attn_implementation")
    try:
        if switch:
            # The eager attention graph (MatMul, Softmax, MatMul) is what ONNX Runtime's
            # optimizer fuses into one Attention op; the SDPA trace (Where/IsNaN) is not.
            encoder.set_attn_implementation("eager")  # type: ignore[union-attr]
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; the TorchScript graph is what ONNX Runtime optimises well here.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                input_names=names,
                output_names=["output"],
                dynamic_axes=axes,
                opset_version=17,
            )
    finally:
        if switch:
            encoder.set_attn_implementation(before)  # type: ignore[union-attr]


def optimize_onnx(src: str | Path, dst: str | Path, config: Any) -> bool:
    """Fuse a BERT-family graph with ONNX Runtime's transformer optimizer; write it to ``dst``.

    Fusions: ``EmbedLayerNormalization`` (embeddings + LayerNorm), ``Attention`` (Q/K/V
    projections, scaled dot product, softmax, context in one kernel), ``SkipLayerNormalization``
    (residual add + LayerNorm) and ``BiasGelu``. Returns False (and writes nothing) when the
    model type is not BERT-like or the config lacks head and hidden sizes.

    Parameters
    ----------
    src, dst : path
        The traced fp32 graph and where to write the fused one (written to a temporary name
        and renamed).
    config : transformers config
        Gives ``model_type``, ``num_attention_heads`` and ``hidden_size``.

    Returns
    -------
    bool
        Whether ``dst`` was written.
    """
    model_type = getattr(config, "model_type", None)
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if model_type not in _BERT_LIKE or not heads or not hidden:
        return False
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.{uuid.uuid4().hex}.onnx")
    log = logging.getLogger("onnxruntime.transformers")
    level = log.level
    log.setLevel(logging.ERROR)  # fusion statistics at INFO/WARNING are not news to users
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_model(
                str(src), model_type="bert", num_heads=int(heads), hidden_size=int(hidden)
            )
            opt.save_model_to_file(str(tmp))
    except Exception as exc:  # the optimizer raises many types; report one clear error
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot optimise the ONNX graph {src}: {exc}") from exc
    finally:
        log.setLevel(level)
    os.replace(tmp, dst)
    return True


def export_onnx(
    model: ServableModel, out_dir: str | Path, *, quantize: bool = False, optimize: bool = False
) -> Path:
    """Export ``model.module`` to ONNX under ``out_dir``; return the graph to run.

    Files: ``model.onnx`` (the traced fp32 graph), ``model.opt.onnx`` (fused by
    :func:`optimize_onnx`, BERT-family encoders, when ``optimize``) and ``model.int8.onnx``
    (dynamic int8 of ``model.onnx`` when ``quantize``). Returned: the int8 graph when
    ``quantize``, else the optimised one when ``optimize`` and it could be made, else
    ``model.onnx``. ``optimize`` is off by default: on MiniLM (2 shared cores, 2026-11-29) the
    fused graph ran at 0.91x the traced graph's rate, whose ORT built-in optimisations
    already fuse LayerNorm, Gelu and MatMul+Add (``docs/benchmarks.md``).

    Files are written under a temporary name and renamed, so a reader never sees half a graph.
    An existing export is reused.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model.onnx"
    if not fp32.is_file():
        tmp = out / f".model.{uuid.uuid4().hex}.onnx"
        try:
            _trace(model, tmp)
        except Exception as exc:  # the exporter raises many types; report one clear error
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot export the model to ONNX: {exc}") from exc
        os.replace(tmp, fp32)
    if not quantize:
        opt = out / "model.opt.onnx"
        if optimize and (opt.is_file() or optimize_onnx(fp32, opt, _encoder_config(model))):
            return opt
        return fp32
    int8 = out / "model.int8.onnx"
    if not int8.is_file():
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = out / f".model.{uuid.uuid4().hex}.int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer's "consider pre-processing" advice
        try:
            # Per-channel weight scales and MatMul-only quantisation: 3x smaller error than
            # the per-tensor default on MiniLM, and leaving the embedding Gather in fp32 is
            # faster.
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        finally:
            root.setLevel(level)
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


def int8_check(
    fp32: Any,
    int8: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    tolerance: float = INT8_TOLERANCE,
    targets: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    metric_tolerance: float = INT8_METRIC_TOLERANCE,
) -> dict[str, Any]:
    """How far int8 outputs are from fp32 outputs on held-out inputs, and whether that is
    within ``tolerance``.

    With ``targets`` (the held-out rows' labels: numbers, or class names from ``labels``) the
    verdict is the task metric instead: int8 passes when it loses at most
    ``metric_tolerance`` of Pearson (regression) or macro-F1 (classification) against fp32;
    the output distance is still reported.

    With ``a`` the fp32 and ``b`` the int8 outputs (values, or class probabilities), the
    relative distance is ``d = mean|a - b| / std(a)``; int8 passes when ``d <= tolerance``
    and, for classifiers, the top label agrees on at least
    :data:`INT8_MIN_LABEL_AGREEMENT` of the rows. Outputs with no spread (``std(a) == 0``)
    pass only when they are identical (else ``relative_diff`` is None).

    Parameters
    ----------
    fp32, int8 : runtime
        Anything with ``predict(texts, pairs)`` (e.g. two :class:`OnnxRuntime`).
    texts, pairs : sequences of str
        Held-out inputs (not the training rows).
    tolerance : float
        Largest accepted ``d`` (the verdict without targets).
    targets : sequence, optional
        True values (regression) or class names (classification) of the held-out rows.
    labels : sequence of str, optional
        The classifier's class names, in output order (needed with class-name targets).
    metric_tolerance : float
        Largest accepted loss of the task metric (the verdict with targets).

    Returns
    -------
    dict
        ``n``, ``mean_abs_diff``, ``max_abs_diff``, ``fp32_std``, ``relative_diff``,
        ``tolerance``, ``label_agreement`` (classifiers, else None), ``criterion``
        (``"output difference"`` or ``"task metric"``), with targets also ``metric``,
        ``fp32_metric``, ``int8_metric``, ``metric_delta`` and ``metric_tolerance``; and
        ``within_tolerance``.

    Examples
    --------
    >>> class Fixed:
    ...     def __init__(self, out):
    ...         self.out = np.asarray(out)
    ...     def predict(self, texts, pairs=None):
    ...         return self.out
    >>> c = int8_check(Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([0.0, 1.1, 2.0, 2.9]), ["t"] * 4)
    >>> round(c["relative_diff"], 4), c["within_tolerance"]
    (0.0447, True)
    >>> c = int8_check(Fixed([0.0, 1.0, 2.0, 3.0]), Fixed([0.0, 1.1, 2.0, 2.9]), ["t"] * 4,
    ...                targets=[0.1, 0.9, 2.2, 2.8])
    >>> c["criterion"], c["metric"], round(c["metric_delta"], 4), c["within_tolerance"]
    ('task metric', 'pearson', 0.0017, True)
    """
    a = np.asarray(fp32.predict(texts, pairs), dtype=np.float64)
    b = np.asarray(int8.predict(texts, pairs), dtype=np.float64)
    diff = np.abs(a - b)
    mean_diff = float(diff.mean()) if diff.size else 0.0
    std = float(a.std()) if a.size else 0.0
    # No spread in fp32: the relative distance is undefined (None) unless nothing differs.
    rel = mean_diff / std if std > 0 else (0.0 if mean_diff == 0 else None)
    agreement = None
    ok = rel is not None and rel <= tolerance
    if a.ndim == 2:
        agreement = float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))
        ok = ok and agreement >= INT8_MIN_LABEL_AGREEMENT
    gate: dict[str, Any] = {"criterion": "output difference"}
    if targets is not None:
        gate = _metric_gate(a, b, targets, labels, metric_tolerance)
        ok = gate["metric_delta"] <= metric_tolerance
    return {
        **gate,
        "n": len(texts),
        "mean_abs_diff": mean_diff,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "fp32_std": std,
        "relative_diff": rel,
        "tolerance": tolerance,
        "label_agreement": agreement,
        "within_tolerance": bool(ok),
    }


def _metric_gate(
    a: np.ndarray,
    b: np.ndarray,
    targets: Sequence[Any],
    labels: Sequence[str] | None,
    tolerance: float,
) -> dict[str, Any]:
    """Task metric of fp32 outputs ``a`` and int8 outputs ``b`` against ``targets``."""
    from bizmodel.finetune.metrics import classification_metrics, regression_metrics

    if len(targets) != len(a):
        raise DataError(f"int8 check: {len(targets)} targets for {len(a)} held-out rows")
    if a.ndim == 2:
        if labels is None:
            raise DataError("int8 check: a classifier's targets need its class labels")
        index = {name: i for i, name in enumerate(labels)}
        unknown = sorted({str(t) for t in targets} - set(index))
        if unknown:
            raise DataError(
                f"int8 check: held-out labels {unknown[:5]} are not the model's classes "
                f"{list(labels)}"
            )
        codes = np.array([index[str(t)] for t in targets])
        metric = "macro_f1"
        fa = classification_metrics(codes, a.argmax(axis=1), list(labels))[metric]
        fb = classification_metrics(codes, b.argmax(axis=1), list(labels))[metric]
    else:
        y = np.asarray(targets, dtype=np.float64)
        metric = "pearson"
        fa, fb = regression_metrics(y, a)[metric], regression_metrics(y, b)[metric]
    return {
        "criterion": "task metric",
        "metric": metric,
        "fp32_metric": float(fa),
        "int8_metric": float(fb),
        "metric_delta": float(fa - fb),
        "metric_tolerance": tolerance,
    }


def choose_runtime(
    model: ServableModel,
    onnx_dir: str | Path,
    *,
    kind: str = "auto",
    sample_texts: Sequence[str] | None = None,
    sample_pairs: Sequence[str] | None = None,
    threads: int | None = None,
    int8: dict[str, Any] | None = None,
) -> Runtime:
    """Build the runtime ``kind`` (``torch``, ``onnx``, ``onnx-int8``) or choose one (``auto``).

    ``auto`` keeps only runtimes that pass their accuracy gate and then takes the fastest,
    measured on the sample: ONNX fp32 must agree with PyTorch within :data:`FP32_ATOL`;
    ONNX int8 must pass :func:`int8_check` against ONNX fp32 — the stored result ``int8`` (as
    measured at registration) when given, else measured now on the sample.

    Parameters
    ----------
    model : ServableModel
        The loaded model.
    onnx_dir : path
        Where ONNX exports live (reused when present).
    kind : str
        ``auto``, ``torch``, ``onnx`` or ``onnx-int8``.
    sample_texts, sample_pairs : sequences of str, optional
        Inputs for the gates and the timing (default: :func:`bizmodel.inference.cost.
        sample_inputs`, 64 synthetic headlines).
    threads : int, optional
        ONNX Runtime intra-op threads.
    int8 : dict, optional
        A stored :func:`int8_check` result; its ``within_tolerance`` decides about int8.

    Returns
    -------
    Runtime
        The runtime; an ``auto`` choice records its reasons in ``runtime.choice``.
    """
    if kind not in ("auto", "torch", "onnx", "onnx-int8"):
        raise ConfigError(f"runtime must be auto, torch, onnx or onnx-int8, got {kind!r}")
    if kind == "torch":
        return TorchRuntime(model)
    if kind in ("onnx", "onnx-int8"):
        path = export_onnx(model, onnx_dir, quantize=kind == "onnx-int8")
        return OnnxRuntime(model, path, threads=threads)
    texts, pairs = _sample(model, sample_texts, sample_pairs)
    torch_rt = TorchRuntime(model)
    onnx_rt = OnnxRuntime(model, export_onnx(model, onnx_dir), threads=threads)
    choice: dict[str, Any] = {"fp32_max_abs_diff": max_abs_diff(torch_rt, onnx_rt, texts, pairs)}
    candidates: list[Runtime] = [torch_rt]
    if choice["fp32_max_abs_diff"] <= FP32_ATOL:
        candidates.append(onnx_rt)
        int8_rt = OnnxRuntime(model, export_onnx(model, onnx_dir, quantize=True), threads=threads)
        check = int8 if int8 is not None else int8_check(onnx_rt, int8_rt, texts, pairs)
        choice["int8"] = check
        if check.get("within_tolerance"):
            candidates.append(int8_rt)
    rates = {rt.name: throughput(rt, texts, pairs) for rt in candidates}
    best = max(candidates, key=lambda rt: rates[rt.name])
    choice["seq_per_s"] = rates
    best.choice = choice
    return best


def _sample(
    model: ServableModel, texts: Sequence[str] | None, pairs: Sequence[str] | None
) -> tuple[list[str], list[str] | None]:
    from bizmodel.inference.cost import sample_inputs

    wants_pairs = bool(getattr(model, "text_pair_column", None))
    if texts is None:
        return sample_inputs(64, pairs=wants_pairs)
    if wants_pairs and pairs is None:
        pairs = [""] * len(texts)
    return list(texts), list(pairs) if pairs is not None and wants_pairs else None
