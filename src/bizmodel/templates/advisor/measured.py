"""The advisor's two model sizes as measured by bizmodel's own benchmarks, with how.

``small`` is the packaged all-MiniLM-L6-v2 fine-tuned by bizmodel, ``large`` is
all-mpnet-base-v2 (``../shared/models/fetch-all-mpnet-base-v2 DIR``), both on SemEval-2017
Task 5 headlines (official train rows; test rows scored with the task's weighted cosine):

- quality: the mean test weighted cosine over seeds 0, 1, 2 — MiniLM with bizmodel's defaults
  (cross-validated epochs), MPNet with the fixed 6-epoch schedule (its defaults ran on seed 0
  only and chose 6 epochs: the same model). Produced by ``benchmarks/schedule_semeval.py``;
  the per-seed scores are in the logs :data:`QUALITY_LOGS` (tests recompute the means);
- inference cost: median CPU-seconds per 1,000 predictions at the best batch size over 5
  timed passes at 1 thread, what ``bizmodel register`` records
  (:func:`bizmodel.inference.cost.measure_model_dir`), by :data:`COST_COMMAND`.

Both ran on :data:`MEASURED_ON`; docs/benchmarks.md ("A stronger encoder") has the table.
A rerun of the same command under a load average of 6-8 (:data:`COST_RERUN`, its output
kept) gave 4.10 and 34.39 CPU-s per 1k: the large/small ratio is 7.9-8.4x.

Examples
--------
>>> small, large = MEASURED["small"], MEASURED["large"]
>>> large.quality, round(large.cpu_s_per_1k / small.cpu_s_per_1k, 1)
(0.8451, 7.9)
>>> f"{MEASURED['large'].usd_per_prediction():.2e}"  # at $0.04 per CPU-hour
'3.64e-07'
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_USD_PER_HOUR = 0.04  # [server] cpu_usd_per_hour's default: the price of the figures below
MEASURED_ON = "AMD EPYC, 2 vCPU (avx512_bf16), 2026-12-06"
COST_COMMAND = (
    "PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 nice -n 5 python "
    "benchmarks/model_compare.py --models packaged,/work/models/all-mpnet-base-v2 "
    "--rows 128 --threads 1"
)
COST_RERUN = "benchmarks/results/model_compare_2026-12-06.txt"  # the command's output, 19:50 UTC
QUALITY_COMMAND = (
    "python benchmarks/schedule_semeval.py [--model /work/models/all-mpnet-base-v2] "
    "--threads 1 --seed S"
)
QUALITY_LOGS = (  # (log under benchmarks/results, the "who" rows averaged, the model's field)
    ("schedule_semeval.jsonl", "new", None),
    ("schedule_semeval_mpnet.jsonl", "fixed", "/work/models/all-mpnet-base-v2"),
)


@dataclass(frozen=True)
class MeasuredModel:
    """One model as measured: its test quality and its inference cost per 1k predictions."""

    name: str  # the model
    params_m: float  # parameters, millions
    quality: float  # SemEval-2017 headlines test weighted cosine, mean of seeds 0-2
    how: str  # the schedule and seeds behind ``quality``
    cpu_s_per_1k: float  # median CPU-s per 1,000 predictions, best batch size, 1 thread

    def usd_per_prediction(self, cpu_usd_per_hour: float = CPU_USD_PER_HOUR) -> float:
        """``cpu_s_per_1k / 1000 × cpu_usd_per_hour / 3600``."""
        return self.cpu_s_per_1k / 1000 * cpu_usd_per_hour / 3600

    def source(self) -> str:
        """Where the numbers came from, in one line."""
        return (
            f"{self.name}: test weighted cosine {self.quality:.3f} ({self.how}), "
            f"{self.cpu_s_per_1k:g} CPU-s per 1k predictions; measured on {MEASURED_ON}"
        )


MEASURED = {
    "small": MeasuredModel(
        "all-MiniLM-L6-v2 (packaged)", 22.7, 0.7622, "bizmodel defaults, seeds 0-2", 4.14
    ),
    "large": MeasuredModel(
        "all-mpnet-base-v2", 109.5, 0.8451, "fixed 6 epochs, all rows, seeds 0-2", 32.8
    ),
}

__all__ = [
    "COST_COMMAND",
    "COST_RERUN",
    "CPU_USD_PER_HOUR",
    "MEASURED",
    "MEASURED_ON",
    "QUALITY_COMMAND",
    "QUALITY_LOGS",
    "MeasuredModel",
]
