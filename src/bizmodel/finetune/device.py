"""Device settings for training: intra-op threads that suit a shared machine, mixed precision
(bf16 autocast on CPUs with AVX512-BF16, bf16 or fp16 with a gradient scaler on CUDA), TF32
and batch copies to the device.

The device itself is chosen in one place, :func:`bizmodel.hardware.resolve_device`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch


def default_threads(busy: float | None = None) -> int:
    """CPUs this process may use, minus those other processes keep busy right now.

    On a shared machine, more OpenMP threads than idle cores stall at every barrier: with two
    cores and others busy, 2 threads trained ~6x slower than 1 here. So the default takes the
    cores that are free now — ``floor(n_cpus - busy + 0.25)``, at least 1, where ``busy`` is
    :func:`bizmodel.hardware.busy_cpus` sampled over a quarter of a second (a core 80 % free
    counts as free). The 1-minute load average used before still counted a run that had ended
    a minute ago, so a run started right after another trained on 1 of 2 idle cores.
    Pass ``num_threads`` to :func:`configure_threads` to override.

    Examples
    --------
    >>> import os
    >>> n = len(os.sched_getaffinity(0))
    >>> default_threads(busy=0.1) == n, default_threads(busy=n + 3.0)
    (True, 1)
    """
    from bizmodel.hardware import busy_cpus, logical_cpus

    n = logical_cpus()
    if busy is None:
        busy = busy_cpus()
    if busy is None:  # pragma: no cover - no /proc/stat: leave the sharing to the OS
        return n
    return max(1, min(n, math.floor(n - busy + 0.25)))


def configure_threads(num_threads: int | None) -> int:
    """Use ``num_threads`` intra-op threads (default: :func:`default_threads`)."""
    n = num_threads or default_threads()
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    return n


def bf16_supported() -> bool:
    """Whether this CPU has native bf16 dot products (AVX512-BF16 or AMX)."""
    from bizmodel.hardware import BF16_FLAGS, cpu_flags

    return bool(cpu_flags() & BF16_FLAGS)


def autocast(enabled: bool, device_type: str = "cpu", dtype: torch.dtype | None = None) -> Any:
    """Autocast on ``device_type`` in ``dtype`` (bf16 by default) when ``enabled``."""
    return torch.autocast(device_type=device_type, dtype=dtype or torch.bfloat16, enabled=enabled)


def amp_plan(
    device_type: str, precision: str, *, cpu_bf16: bool, cuda_bf16: bool
) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None for fp32, whether a gradient scaler is needed)``.

    CPU: bf16 with ``precision="bf16"``, or ``"auto"`` on a CPU with native bf16
    (``cpu_bf16``), else fp32 — as before devices existed. CUDA: ``"auto"`` is bf16 where the
    GPU supports it (``cuda_bf16``: Ampere and later), else fp16 with a gradient scaler (fp16's
    narrow exponent underflows small gradients); ``"fp16"`` always scales. MPS: fp32 unless
    asked. ``"fp32"``: fp32 everywhere.

    Examples
    --------
    >>> amp_plan("cpu", "auto", cpu_bf16=False, cuda_bf16=False)
    (None, False)
    >>> amp_plan("cuda", "auto", cpu_bf16=False, cuda_bf16=True)
    (torch.bfloat16, False)
    >>> amp_plan("cuda", "auto", cpu_bf16=False, cuda_bf16=False)
    (torch.float16, True)
    """
    from bizmodel.errors import ConfigError

    if precision == "fp32":
        return None, False
    if precision == "fp16":
        if device_type != "cuda":
            raise ConfigError(f"precision fp16 needs a CUDA device, got {device_type!r}")
        return torch.float16, True
    if precision == "bf16":
        return torch.bfloat16, False
    if device_type == "cuda":
        return (torch.bfloat16, False) if cuda_bf16 else (torch.float16, True)
    if device_type == "cpu" and cpu_bf16:
        return torch.bfloat16, False
    return None, False


def prepare_device(device: torch.device) -> None:
    """Process-wide settings for ``device``: TF32 matmuls and cuDNN convolutions on CUDA
    (fp32 matmuls on tensor cores, 10-bit mantissa inputs: the usual fine-tuning setting)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def to_device(tensors: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """``tensors`` (None values kept) on ``device``; unchanged on CPU. On CUDA each tensor
    is pinned and copied without blocking, so the copy overlaps the previous step's kernels."""
    if device.type == "cpu":
        return tensors
    cuda = device.type == "cuda"
    return {
        k: None if v is None else (v.pin_memory() if cuda else v).to(device, non_blocking=cuda)
        for k, v in tensors.items()
    }


class GradScaling:
    """The steps of backward and optimiser step, with fp16's gradient scaler when ``enabled``
    (:class:`torch.amp.GradScaler`) and exactly the plain calls otherwise."""

    def __init__(self, enabled: bool, device_type: str = "cuda") -> None:
        self.scaler = torch.amp.GradScaler(device_type) if enabled else None

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale (before clipping them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimiser step (skipped by the scaler when a gradient is inf or nan)."""
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()
