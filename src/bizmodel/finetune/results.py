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
class ScheduleSelection:
    """How the number of epochs was chosen when no dev data was given, and what it cost."""

    method: str  # e.g. "5-fold CV"; "fixed" when nothing was chosen (epochs given as is)
    folds: int  # models trained to choose (0 for "fixed")
    metric: str  # the held-out metric of the curve
    epochs_curve: list[float]  # per epoch 1..E: the metric's mean over folds
    epochs_se: list[float]  # per epoch: its standard error over folds (0 with one fold)
    fold_curves: list[list[float]]  # per fold, per epoch
    chosen_epochs: int  # the epochs of the final model, trained on all rows
    cv_metrics: dict[str, float]  # every metric at the chosen epoch, mean over folds
    seconds: float  # wall time of the fold runs
    cpu_seconds: float  # process CPU time of the fold runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "folds": self.folds,
            "metric": self.metric,
            "epochs_curve": self.epochs_curve,
            "epochs_se": self.epochs_se,
            "fold_curves": self.fold_curves,
            "chosen_epochs": self.chosen_epochs,
            "cv_metrics": self.cv_metrics,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScheduleSelection:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def summary(self) -> str:
        """One line: the method, the curve and the choice, and its cost.

        Examples
        --------
        >>> s = ScheduleSelection("3-fold CV", 3, "pearson", [0.5, 0.61, 0.6], [0.02] * 3,
        ...                       [], 2, {}, 12.0, 20.0)
        >>> print(s.summary())
        epochs chosen by 3-fold CV: 2 (mean pearson per epoch 0.500 0.610 0.600), 12.0 s wall, 20.0 CPU-s
        """  # noqa: E501
        curve = " ".join(f"{v:.3f}" for v in self.epochs_curve)
        return (
            f"epochs chosen by {self.method}: {self.chosen_epochs} (mean {self.metric} per "
            f"epoch {curve}), {self.seconds:.1f} s wall, {self.cpu_seconds:.1f} CPU-s"
        )


def _probe_note(probe: dict[str, float]) -> str:
    """`` (predicted from timed steps: x s at 1 thread, y s at 2)`` for a timed choice."""
    if len(probe) < 2:
        return ""
    times = ", ".join(
        f"{t:.1f} s at {k}" for k, t in sorted(probe.items(), key=lambda kv: int(kv[0]))
    )
    return f" (steps predicted from timed ones: {times})"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced and what it cost."""

    output: str  # the model dir written
    task: str  # "regression" | "classification"
    method: str  # full | lora | adalora | frozen | ...
    # of the restored best epoch; with a cross-validated schedule (no dev rows), the folds'
    # mean at the chosen epoch (models trained on (k-1)/k of the rows: slightly pessimistic)
    dev_metrics: dict[str, Any]
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
    # how the epoch count was chosen without dev rows (None: dev rows were given or held out)
    schedule_selection: ScheduleSelection | None = None
    num_threads: int | None = None  # torch intra-op threads it trained with (CPU)
    # predicted seconds of the run's steps at each thread count timed before it ({}: none)
    threads_probe: dict[str, float] = field(default_factory=dict)

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
            "num_threads": self.num_threads,
            "threads_probe": self.threads_probe,
            "history": self.history,
            "notes": list(self.notes),
            "schedule_selection": (
                self.schedule_selection.to_dict() if self.schedule_selection else None
            ),
        }

    def summary(self) -> str:
        parts = [
            f"trained {self.method} {self.task} model → {self.output}",
            f"  rows: {self.n_train} train, {self.n_dev} dev, {self.n_test} test; "
            f"best epoch {self.best_epoch} of {self.epochs_run}",
            f"  time: {self.train_seconds:.1f} s wall, {self.cpu_seconds:.1f} CPU-s, "
            f"{self.samples_per_second:.1f} samples/s"
            + (f", {self.num_threads} thread(s)" if self.num_threads else "")
            + _probe_note(self.threads_probe),
        ]
        if self.schedule_selection is not None:
            parts += [f"  {self.schedule_selection.summary()}"]
        if self.dev_metrics:
            cv = self.schedule_selection is not None and self.n_dev == 0
            parts += ["cross-validated (chosen epoch):" if cv else "dev:"]
            parts += [format_metrics(self.dev_metrics)]
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
