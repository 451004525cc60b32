"""CPU settings for training: intra-op threads that suit a shared machine, bf16 autocast."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch


def default_threads() -> int:
    """CPUs this process may use, minus those other processes keep busy (1-minute load).

    On a shared machine, more OpenMP threads than idle cores stall at every barrier: with two
    cores and others busy, 2 threads trained ~6x slower than 1 here. So the default takes
    ``n_cpus - floor(load)`` threads (at least 1); pass ``num_threads`` to override.
    """
    n = len(os.sched_getaffinity(0))
    try:
        busy = int(os.getloadavg()[0])
    except OSError:  # pragma: no cover - no load average on this platform
        busy = 0
    return max(1, min(n, n - busy))


def configure_threads(num_threads: int | None) -> int:
    """Use ``num_threads`` intra-op threads (default: :func:`default_threads`)."""
    n = num_threads or default_threads()
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    return n


def bf16_supported() -> bool:
    """Whether this CPU has native bf16 dot products (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(enabled: bool) -> Any:
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=enabled)
