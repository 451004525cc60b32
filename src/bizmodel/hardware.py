"""What a measurement ran on: CPU model, cores, threads, bf16 — recorded beside every timing.

A cost or speed figure without its hardware cannot be compared with another one, so the
registry stores :func:`describe` with each measured inference cost.

Examples
--------
>>> info = describe(threads=1)
>>> sorted(info)
['bf16', 'cpu', 'logical_cpus', 'machine', 'threads']
>>> info["threads"]
1
"""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``); empty where the kernel does not list them."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def logical_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - no affinity API (macOS)
        return max(1, os.cpu_count() or 1)


def describe(*, threads: int | None = None) -> dict[str, Any]:
    """The hardware a measurement ran on, as a JSON-ready dict."""
    flags = cpu_flags()
    return {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "logical_cpus": logical_cpus(),
        "threads": threads,
        "bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
    }
