"""Export a fine-tuned model to ONNX: the traced fp32 graph, ONNX Runtime's transformer fusions,
dynamic int8 quantisation.

The encoder is traced with eager attention (the SDPA trace hides the attention pattern from ONNX
Runtime); on request BERT-family graphs go through ONNX Runtime's transformer optimizer (fused
``Attention``, ``EmbedLayerNormalization``, ``SkipLayerNormalization``, ``BiasGelu``) — measured
slower than the traced graph on MiniLM here, so off by default. Dynamic int8 (per-channel
weights, MatMul only) is lossy: :func:`bizmodel.inference.choice.int8_check` measures it.

Files are written under a temporary name and renamed, so a reader never sees half a graph; an
existing export is reused.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError
from bizmodel.inference.runtime import ServableModel, _input_names

# Model types whose graphs ONNX Runtime's "bert" transformer optimizer fuses.
_BERT_LIKE = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert")


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
