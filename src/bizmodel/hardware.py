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
import time
from collections.abc import Callable
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


def cpu_times(text: str | None = None) -> dict[int, tuple[int, int]]:
    r"""``{cpu: (busy_ticks, total_ticks)}`` from ``/proc/stat`` (or its ``text``).

    Busy is everything but idle and iowait; guest time is already inside user time.

    Examples
    --------
    >>> cpu_times("cpu  9 0 9 9 0 0 0 0 0 0\ncpu0 10 0 5 80 5 0 0 0 0 0\n")
    {0: (15, 100)}
    """
    if text is None:
        try:
            with open("/proc/stat") as f:
                text = f.read()
        except OSError:
            return {}
    out = {}
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if not head.startswith("cpu") or head == "cpu":
            continue
        ticks = [int(v) for v in rest.split()[:8]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        out[int(head[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def busy_cpus(
    window_s: float = 0.25,
    *,
    read: Callable[[], dict[int, tuple[int, int]]] = cpu_times,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """How many of this process's CPUs other work keeps busy *now*: the busy share of each
    allowed CPU over ``window_s`` seconds, summed. None where ``/proc/stat`` is not readable.

    Unlike the 1-minute load average, this forgets a run that ended a second ago.
    """
    allowed = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    before = read()
    if not before:
        return None
    sleep(window_s)
    after = read()
    busy = 0.0
    for cpu, (b1, t1) in after.items():
        if (allowed is not None and cpu not in allowed) or cpu not in before:
            continue
        b0, t0 = before[cpu]
        if t1 > t0:
            busy += (b1 - b0) / (t1 - t0)
    return busy


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
