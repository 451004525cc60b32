"""Measured inference cost: CPU-seconds (and wall ms) per 1,000 predictions, median of repeats.

For each batch size ``b`` the runtime predicts the ``n`` sample texts ``repeats`` times (after
one untimed warm-up pass). Each pass gives ``cpu_s_per_1k = 1000 * cpu_s / n``, where
``cpu_s`` is the process CPU time (``time.process_time``: all threads, so intra-op parallelism
is counted), and ``ms_per_1k = 1e6 * wall_s / n``. The figure stored is the **median** over
the passes, with the spread (min, quartiles, max) beside it; the best batch size is the one
with the lowest median CPU-seconds per 1k — what a provider pays for.

Why CPU time at one intra-op thread, median of repeats: wall time grows with whatever else
runs on the machine (a batch-1 pass under load once stored 209 ms per text), and with several
OpenMP threads on a busy machine the threads spin at every barrier, which counts as CPU time
too. One thread has no barrier; the median drops the passes a scheduler hiccup spoilt. A
server that wants lower latency may use more threads per request; the CPU-seconds it pays per
prediction can only be higher. The hardware (:func:`bizmodel.hardware.describe`) is recorded
with the numbers.

Examples
--------
>>> class Echo:
...     name = "echo"
...     def predict(self, texts, pairs=None, *, batch_size=32):
...         return [0.0] * len(texts)
>>> ticks = iter(range(10_000))                  # an injected clock: 1 s per reading
>>> cost = measure_inference_cost(Echo(), ["a"] * 8, batch_sizes=(1, 4), repeats=3,
...                               cpu_clock=lambda: next(ticks), wall_clock=lambda: 0.0)
>>> cost["cpu_s_per_1k_best"], cost["repeats"]   # 1 CPU-second per 8 texts
(125.0, 3)
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

DEFAULT_BATCH_SIZES = (1, 8, 32)
DEFAULT_REPEATS = 5
DEFAULT_GPU_USD_PER_HOUR = 2.0  # [server] gpu_usd_per_hour's default (bizmodel.config reads it)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and range of repeated measurements.

    Examples
    --------
    >>> spread([4.0, 1.0, 3.0, 2.0, 100.0])
    {'median': 3.0, 'min': 1.0, 'q1': 2.0, 'q3': 4.0, 'max': 100.0}
    """
    xs = sorted(float(v) for v in values)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    return {"median": statistics.median(xs), "min": xs[0], "q1": q1, "q3": q3, "max": xs[-1]}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (unchanged when ``n`` is None)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_inference_cost(
    runtime: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    repeats: int = DEFAULT_REPEATS,
    threads: int | None = 1,
    cpu_clock: Callable[[], float] = time.process_time,
    wall_clock: Callable[[], float] = time.perf_counter,
    device: Any = "cpu",
) -> dict[str, Any]:
    """Measure CPU-seconds and ms per 1k predictions of ``runtime`` at each batch size.

    Parameters
    ----------
    runtime : object
        Has ``predict(texts, pairs, *, batch_size)`` and a ``name``.
    texts, pairs : sequences of str
        The sample inputs (``pairs`` for text-pair models).
    batch_sizes : sequence of int
        Batch sizes to time.
    repeats : int
        Timed passes per batch size; the median is stored, with the spread.
    threads : int or None
        Torch intra-op threads during the measurement (default 1, see the module docstring);
        None keeps the process setting.
    cpu_clock, wall_clock : callables
        Clocks (seconds); injectable so tests never depend on the machine's speed.
    device : str or torch.device
        Where ``runtime`` runs, recorded in ``hardware`` (with the GPU's name on CUDA).
    """
    from bizmodel.hardware import describe

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    n = max(len(texts), 1)
    rows = []
    with torch_threads(threads):
        runtime.predict(texts[:2], pairs[:2] if pairs else None)  # warm up (lazy init)
        for b in batch_sizes:
            runtime.predict(texts, pairs, batch_size=b)  # warm up this batch shape
            cpu_runs, wall_runs = [], []
            for _ in range(repeats):
                wall0, cpu0 = wall_clock(), cpu_clock()
                runtime.predict(texts, pairs, batch_size=b)
                wall, cpu = wall_clock() - wall0, cpu_clock() - cpu0
                cpu_runs.append(1e3 * cpu / n)
                wall_runs.append(1e6 * wall / n)
            rows.append(
                {
                    "batch_size": b,
                    "ms_per_1k": statistics.median(wall_runs),
                    "cpu_s_per_1k": statistics.median(cpu_runs),
                    "cpu_s_per_1k_spread": spread(cpu_runs),
                }
            )
    first = rows[0]
    best = min(rows, key=lambda r: (r["cpu_s_per_1k"], r["ms_per_1k"]))
    return {
        "runtime": getattr(runtime, "name", type(runtime).__name__),
        "n_texts": len(texts),
        "repeats": repeats,
        "statistic": "median",
        "ms_per_1k_batch1": first["ms_per_1k"],
        "cpu_s_per_1k_batch1": first["cpu_s_per_1k"],
        "best_batch_size": best["batch_size"],
        "ms_per_1k_best": best["ms_per_1k"],
        "cpu_s_per_1k_best": best["cpu_s_per_1k"],
        "cpu_s_per_1k_best_spread": best["cpu_s_per_1k_spread"],
        "by_batch_size": rows,
        "hardware": describe(threads=threads, device=device),
    }


def fixed_inference_cost(cpu_s_per_1k: float, *, source: str) -> dict[str, Any]:
    """An inference cost given rather than measured (``[server] inference_cost_cpu_s_per_1k``:
    a figure from production billing, or a test that must not depend on the machine's speed).

    Examples
    --------
    >>> c = fixed_inference_cost(2.5, source="bizmodel.toml")
    >>> c["cpu_s_per_1k_best"], c["statistic"]
    (2.5, 'given')
    """
    if not cpu_s_per_1k > 0:
        raise ValueError(f"inference_cost_cpu_s_per_1k must be > 0, got {cpu_s_per_1k}")
    row = {"batch_size": 1, "ms_per_1k": None, "cpu_s_per_1k": float(cpu_s_per_1k)}
    return {
        "runtime": "given",
        "n_texts": 0,
        "repeats": 0,
        "statistic": "given",
        "source": source,
        "ms_per_1k_batch1": None,
        "cpu_s_per_1k_batch1": float(cpu_s_per_1k),
        "best_batch_size": 1,
        "ms_per_1k_best": None,
        "cpu_s_per_1k_best": float(cpu_s_per_1k),
        "by_batch_size": [row],
        "hardware": None,
    }


def sample_inputs(n: int, *, pairs: bool) -> tuple[list[str], list[str] | None]:
    """``n`` synthetic headline-like texts (about 12 tokens) and company names for pairs.

    Examples
    --------
    >>> texts, companies = sample_inputs(2, pairs=True)
    >>> texts[0], companies[0]
    ('Acme raises full-year profit forecast after strong first-quarter sales', 'Acme')
    """
    firms = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
    verbs = ["raises", "cuts", "confirms", "withdraws"]
    what = ["full-year profit forecast", "dividend", "sales guidance", "cost targets"]
    texts, comps = [], []
    for i in range(n):
        firm = firms[i % len(firms)]
        texts.append(
            f"{firm} {verbs[i // 8 % 4]} {what[i // 32 % 4]} after strong first-quarter sales"
        )
        comps.append(firm)
    return texts, comps if pairs else None


def measure_model_dir(
    path: Any,
    *,
    loader: Any = None,
    runtime: str = "torch",
    n: int = 64,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    int8: bool = False,
    sample: tuple[Sequence[str], Sequence[str] | None] | None = None,
    sample_targets: Sequence[Any] | None = None,
    repeats: int = DEFAULT_REPEATS,
    device: str = "cpu",
) -> dict[str, Any]:
    """Load the model dir at ``path`` and measure its inference cost on ``n`` sample texts.

    ``device``: where the model runs (``auto``: cuda, else mps, else cpu); the default
    ``loader`` loads it there, and ``hardware`` records it (with the GPU's name on CUDA).

    With ``int8``, also export ONNX fp32 and the int8 variants (under ``path/onnx``; static
    ones calibrated on ``sample``) and store :func:`bizmodel.inference.choice.select_int8` on
    ``sample`` (held-out ``(texts, pairs)``; default: the ``n`` synthetic texts) under the key
    ``"int8"``: each variant's check against fp32 and the fastest that passed, which the
    serving runtime ``auto`` serves. With ``sample_targets`` (the held-out rows' labels) the
    checks are on the task metric.
    """
    from pathlib import Path

    from bizmodel.inference.choice import choose_runtime, select_int8

    if loader is None:
        import importlib

        load_model = importlib.import_module("bizmodel.finetune").load_model
        model = load_model(path, device=device)
    else:
        model = loader(path)
    onnx_dir = Path(path) / "onnx"
    rt = choose_runtime(model, onnx_dir, kind=runtime, threads=1)  # as measured: one thread
    texts, pairs = sample_inputs(n, pairs=bool(getattr(model, "text_pair_column", None)))
    from bizmodel.inference.runtime import module_device

    cost = measure_inference_cost(
        rt,
        texts,
        pairs,
        batch_sizes=batch_sizes,
        repeats=repeats,
        device=module_device(getattr(model, "module", None)),
    )
    if int8:
        held_texts, held_pairs = sample if sample is not None else (texts, pairs)
        check = select_int8(
            model,
            onnx_dir,
            held_texts,
            held_pairs,
            targets=sample_targets if sample is not None else None,
            threads=1,
        )
        check["sample"] = "held-out file" if sample is not None else "synthetic headlines"
        cost["int8"] = check
    return cost


def usd_per_prediction(
    inference_cost: Any,
    cpu_usd_per_hour: float,
    gpu_usd_per_hour: float = DEFAULT_GPU_USD_PER_HOUR,
) -> float | None:
    """USD per prediction at the best batch size; None when nothing was measured.

    Measured on a CPU: the CPU-seconds per 1,000 predictions (``cpu_s_per_1k_best`` of a
    registered version's ``inference_cost``) / 1000 × the CPU price per second. Measured on
    CUDA (``hardware["device"]``): a GPU is billed by the wall hour whatever its load, so the
    wall time instead, ``ms_per_1k_best`` / 10⁶ seconds per prediction × the GPU price per
    second.

    Examples
    --------
    >>> usd_per_prediction({"cpu_s_per_1k_best": 3.6}, cpu_usd_per_hour=0.05)
    5e-08
    >>> gpu = {"cpu_s_per_1k_best": 3.6, "ms_per_1k_best": 360.0,
    ...        "hardware": {"device": "cuda:0", "gpu": "NVIDIA H100"}}
    >>> usd_per_prediction(gpu, cpu_usd_per_hour=0.05, gpu_usd_per_hour=2.0)
    2e-07
    >>> usd_per_prediction(None, cpu_usd_per_hour=0.05) is None
    True
    """
    cost = inference_cost or {}
    device = str((cost.get("hardware") or {}).get("device") or "cpu")
    wall_ms_per_1k = cost.get("ms_per_1k_best")
    if device.startswith("cuda") and wall_ms_per_1k is not None:
        return float(wall_ms_per_1k) / 1e6 * gpu_usd_per_hour / 3600
    per_1k = cost.get("cpu_s_per_1k_best")
    if per_1k is None:
        return None
    return float(per_1k) / 1000 * cpu_usd_per_hour / 3600
