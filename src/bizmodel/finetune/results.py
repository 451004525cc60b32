"""Result objects of training and evaluation: frozen dataclasses with summary() and to_dict().

Examples
--------
>>> r = EvalResult(model_dir="m", data="d.csv", split=None, task="regression", n=3,
...                metrics={"mse": 0.25, "r2": 0.5})
>>> r.to_dict()["mse"]
0.25
>>> print(r.summary())
evaluated m on d.csv (3 rows, regression)
  mse              0.2500
  r2               0.5000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SCALARS = (
    "mse",
    "rmse",
    "mae",
    "r2",
    "pearson",
    "spearman",
    "weighted_cosine",
    "accuracy",
    "macro_f1",
)


def format_metrics(metrics: dict[str, Any], indent: str = "  ") -> str:
    """Scalar metrics one per line, in a fixed order."""
    lines = [f"{indent}{k:<16} {metrics[k]:.4f}" for k in _SCALARS if k in metrics]
    return "\n".join(lines)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced and what it cost."""

    output: str  # the model dir written
    task: str  # "regression" | "classification"
    method: str  # full | lora | adalora | frozen | ...
    dev_metrics: dict[str, Any]  # of the restored best epoch
    test_metrics: dict[str, Any] | None  # when the data had test rows
    best_epoch: int  # 1-based epoch whose weights were kept
    epochs_run: int
    n_train: int
    n_dev: int
    n_test: int
    train_seconds: float  # wall time of the whole run (loading, training, evaluating, saving)
    samples_per_second: float  # training samples per second of optimisation steps
    cpu_seconds: float  # process CPU time of the run, all threads (the cost measure)
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: loss, dev metric
    notes: tuple[str, ...] = ()  # things worth knowing about the run (e.g. a tiny dev split)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "task": self.task,
            "method": self.method,
            "dev": self.dev_metrics,
            "test": self.test_metrics,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "n_train": self.n_train,
            "n_dev": self.n_dev,
            "n_test": self.n_test,
            "train_seconds": self.train_seconds,
            "samples_per_second": self.samples_per_second,
            "cpu_seconds": self.cpu_seconds,
            "history": self.history,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        parts = [
            f"trained {self.method} {self.task} model → {self.output}",
            f"  rows: {self.n_train} train, {self.n_dev} dev, {self.n_test} test; "
            f"best epoch {self.best_epoch} of {self.epochs_run}",
            f"  time: {self.train_seconds:.1f} s wall, {self.cpu_seconds:.1f} CPU-s, "
            f"{self.samples_per_second:.1f} samples/s",
            "dev:",
            format_metrics(self.dev_metrics),
        ]
        if self.test_metrics:
            parts += ["test:", format_metrics(self.test_metrics)]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)


@dataclass(frozen=True)
class EvalResult:
    """Metrics of a saved model on some data."""

    model_dir: str
    data: str
    split: str | None  # the split evaluated, when a split column was used
    task: str
    n: int  # rows scored
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The metrics under their snake_case names, plus ``n``, ``task`` and ``split``."""
        return {**self.metrics, "n": self.n, "task": self.task, "split": self.split}

    def summary(self) -> str:
        where = f"{self.data} [{self.split}]" if self.split else self.data
        return (
            f"evaluated {self.model_dir} on {where} ({self.n} rows, {self.task})\n"
            + format_metrics(self.metrics)
        )
