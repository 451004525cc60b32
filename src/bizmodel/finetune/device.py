"""CPU settings for training: intra-op threads that suit a shared machine, bf16 autocast."""

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
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(enabled: bool) -> Any:
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=enabled)
