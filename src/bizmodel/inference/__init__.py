"""Inference: PyTorch and ONNX Runtime runtimes, measured cost, dynamic micro-batching."""

from bizmodel.inference.batcher import MicroBatcher
from bizmodel.inference.choice import (
    FP32_ATOL,
    INT8_MIN_CORR,
    INT8_TOLERANCE,
    choose_runtime,
    int8_check,
    max_abs_diff,
    select_int8,
)
from bizmodel.inference.cost import measure_inference_cost
from bizmodel.inference.export import export_onnx, optimize_onnx
from bizmodel.inference.quantize import INT8_VARIANTS, Int8Variant
from bizmodel.inference.runtime import OnnxRuntime, Runtime, TorchRuntime

__all__ = [
    "FP32_ATOL",
    "INT8_MIN_CORR",
    "INT8_TOLERANCE",
    "INT8_VARIANTS",
    "Int8Variant",
    "MicroBatcher",
    "OnnxRuntime",
    "Runtime",
    "TorchRuntime",
    "choose_runtime",
    "export_onnx",
    "int8_check",
    "max_abs_diff",
    "measure_inference_cost",
    "optimize_onnx",
    "select_int8",
]
