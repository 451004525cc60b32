"""Inference runtimes for a fine-tuned model: PyTorch and ONNX Runtime (fp32 or dynamic int8).

Both take texts (and optional second texts of a pair), tokenize them in length-sorted batches
with dynamic padding, and return what ``FineTunedModel.predict`` returns: an ``(n,)`` array of
regression values in target units, or ``(n, K)`` class probabilities (softmax of the logits).
The model is anything with the attributes of ``bizmodel.finetune.FineTunedModel``: ``task``,
``labels``, ``tokenizer``, ``module`` and ``info``.

Batches: one tokenizer pass, rows sorted by token count, each batch padded to its longest row;
ONNX Runtime runs several batches side by side on one-thread sessions. Graphs come from
:mod:`bizmodel.inference.export`; which runtime to serve, and the accuracy gates (fp32 parity,
the int8 check), are in :mod:`bizmodel.inference.choice`.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bizmodel.errors import DataError

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
    declared = getattr(module, "input_names", None)  # TextModel: token types only if embedded
    if declared is not None:
        return list(declared)
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
    #: How many :meth:`predict` calls may usefully run at once from different threads (a
    #: server's micro-batcher runs that many batches side by side). Above 1, a call computes in
    #: its own thread only, so ``time.thread_time()`` around it is its CPU cost.
    parallel_batches = 1

    def __init__(self, model: ServableModel) -> None:
        self.model = model
        self.task = model.task
        self.max_length = _max_length(model)
        self.input_names = _input_names(model.module)
        # A fast tokenizer's truncation settings are shared, mutable state: calls from several
        # threads at once take turns (tokenizing is a small part of a batch's time).
        self._tokenizer_lock = threading.Lock()

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
        with self._tokenizer_lock:
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


def module_device(module: Any) -> Any:
    """The ``torch.device`` of ``module``'s first parameter (cpu for a module without any)."""
    import torch

    params = getattr(module, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def cuda_dtype(bf16_supported: bool) -> Any:
    """Inference autocast dtype on CUDA: bf16 where the GPU has it (Ampere on), else fp16.

    Examples
    --------
    >>> cuda_dtype(True), cuda_dtype(False)
    (torch.bfloat16, torch.float16)
    """
    import torch

    return torch.bfloat16 if bf16_supported else torch.float16


def onnx_providers(device_type: str, available: Sequence[str]) -> list[str]:
    """ONNX Runtime providers: CUDA's on a CUDA device where it is installed, else the CPU's.

    Examples
    --------
    >>> onnx_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    >>> onnx_providers("cuda", ["CPUExecutionProvider"])
    ['CPUExecutionProvider']
    """
    if device_type == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class TorchRuntime(Runtime):
    """The model's own PyTorch module under ``torch.inference_mode``, on the module's device:
    on CUDA under bf16 autocast (fp16 where the GPU lacks bf16), on CPU in fp32."""

    name = "torch"

    def __init__(self, model: ServableModel) -> None:
        super().__init__(model)
        self.module = model.module.eval()
        self.device = module_device(self.module)
        if self.device.type == "cuda":
            import torch

            self.dtype = cuda_dtype(torch.cuda.is_bf16_supported())
        else:
            self.dtype = None  # fp32

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import contextlib

        import torch

        args = [torch.from_numpy(batch[k]) for k in self.input_names]
        if self.device.type != "cpu":
            args = [a.to(self.device) for a in args]
        amp: Any = contextlib.nullcontext()
        if self.dtype is not None:
            amp = torch.autocast(self.device.type, dtype=self.dtype)
        with torch.inference_mode(), amp:
            out = self.module(*args)
        if isinstance(out, tuple | list):
            out = out[0]
        return np.asarray(out.float().cpu().numpy())


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
        self.path = Path(onnx_path)
        self._spinning = spinning
        self.session = self._new_session(threads)
        # model.int8.onnx -> "onnx-int8", model.int8-static.onnx -> "onnx-int8-static"
        stem = self.path.name.removesuffix(".onnx")
        self.name = "onnx-" + stem.split(".", 1)[1] if "int8" in stem else "onnx"
        self.workers = int(threads or os.cpu_count() or 1)
        if "CUDAExecutionProvider" in self.session.get_providers():
            self.workers = 1  # one GPU: batches in turn, not side by side on CPU threads
        self._single: Any = None  # one-thread session for batch-parallel runs, made on demand
        self._lock = threading.Lock()
        # One-thread CPU sessions compute in the calling thread and ``run`` is thread-safe and
        # releases the GIL: a server's batches can then run side by side, one per core.
        cores = os.cpu_count() or 1
        if (
            threads == 1
            and cores > 1
            and "CUDAExecutionProvider" not in self.session.get_providers()
        ):
            self.parallel_batches = cores

    def _new_session(self, threads: int | None) -> Any:
        """A CPU session on ``self.path`` with ``threads`` intra-op threads (None: ORT's)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No busy-waiting between parallel sections by default: on shared or busy cores
        # spinning threads steal the CPU the other threads (HTTP, logging) need.
        spin = "1" if self._spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        device = module_device(self.model.module)  # the CUDA provider for a model on CUDA
        providers = onnx_providers(device.type, ort.get_available_providers())
        return ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, batch)[0], dtype=np.float32)

    def _single_thread_session(self) -> Any:
        with self._lock:
            if self._single is None:
                self._single = self._new_session(1)
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
