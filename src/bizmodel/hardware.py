"""What a measurement ran on — CPU model, cores, threads, bf16, the device and its GPU — and
the one place that chooses the device (:func:`resolve_device`).

A cost or speed figure without its hardware cannot be compared with another one, so the
registry stores :func:`describe` with each measured inference cost, and training stores it in
the model dir's ``metrics.json``.

Examples
--------
>>> info = describe(threads=1)
>>> sorted(info)
['bf16', 'cpu', 'device', 'logical_cpus', 'machine', 'threads']
>>> info["threads"], info["device"]
(1, 'cpu')
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bizmodel.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")  # what --device accepts ("cuda:N" too)


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


# CPU flags of native bf16 dot products (what bf16 autocast on the CPU needs to pay off)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def available_devices() -> list[str]:
    """The devices torch can use here, best first: ``cuda`` (if any), ``mps`` (if any), ``cpu``."""
    import torch

    found = ["cuda"] if torch.cuda.is_available() else []
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(name: str | None = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` (or None) is the first of
    :func:`available_devices` — ``cuda``, else ``mps``, else ``cpu``.

    An explicit device that is not available here is a ConfigError naming the ones that are.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("tpu")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'
    """
    import torch

    name = (name or "auto").strip().lower()
    kind, _, index = name.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    available = available_devices()
    if kind == "auto":
        return torch.device(available[0])
    if kind not in available:
        raise ConfigError(
            f"device {name!r} is not available on this machine; available: "
            + ", ".join(["auto", *available])
        )
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {name!r} is not available: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    return torch.device(name)


def gpu_facts(device: Any) -> dict[str, Any]:
    """Name, memory and CUDA version of the CUDA ``device`` (``torch.device`` or string)."""
    import torch

    props = torch.cuda.get_device_properties(torch.device(device))
    return {
        "gpu": props.name,
        "gpu_memory_gb": round(props.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
        "gpu_bf16": bool(torch.cuda.is_bf16_supported()),
    }


def describe(*, threads: int | None = None, device: Any = "cpu") -> dict[str, Any]:
    """The hardware a measurement ran on, as a JSON-ready dict.

    ``device`` (a resolved device, as :func:`resolve_device` returns) is recorded as ``device``;
    on CUDA the GPU's name, memory, CUDA version and bf16 support are added.
    """
    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "logical_cpus": logical_cpus(),
        "threads": threads,
        "bf16": bool(flags & BF16_FLAGS),
        "device": str(device),
    }
    if str(device).startswith("cuda"):
        info.update(gpu_facts(device))
    return info
