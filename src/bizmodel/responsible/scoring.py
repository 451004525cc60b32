"""What audit and robustness share: labelled rows for a model, and one named metric of them.

The metric names are those of :mod:`bizmodel.finetune.metrics` (``mae``, ``weighted_cosine``,
``accuracy``, ``macro_f1``, ...); "worse" is the direction given by ``HIGHER_IS_BETTER``.

Examples
--------
>>> import numpy as np
>>> metric_value("regression", "mae", np.array([0.1, 0.4]), np.array([0.0, 0.0]), None)
0.25
>>> worse_by("accuracy", clean=0.9, other=0.8)  # accuracy fell by 0.1: positive = worse
0.09999999999999998
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import ConfigError
from bizmodel.finetune.metrics import HIGHER_IS_BETTER, classification_metrics, regression_metrics

if TYPE_CHECKING:
    import pandas as pd

    from bizmodel.finetune.data import Examples
    from bizmodel.finetune.predict import FineTunedModel

#: Metrics by task that reduce to a number (the dict keys of bizmodel.finetune.metrics).
METRICS = {
    "regression": ("mae", "mse", "rmse", "r2", "pearson", "spearman", "weighted_cosine"),
    "classification": ("accuracy", "macro_f1"),
}
#: The default metric per task: a mean over rows, readable in the target's units.
DEFAULT_METRIC = {"regression": "mae", "classification": "accuracy"}


def check_metric(task: str, metric: str | None) -> str:
    """``metric`` (or the task's default) after checking it exists for ``task``."""
    metric = metric or DEFAULT_METRIC[task]
    if metric not in METRICS[task]:
        raise ConfigError(f"unknown {task} metric {metric!r}; valid: {', '.join(METRICS[task])}")
    return metric


def metric_value(
    task: str, metric: str, outputs: np.ndarray, targets: np.ndarray, labels: list[str] | None
) -> float:
    """``metric`` of predictions (values, or (n, K) probabilities/logits) against targets."""
    if task == "regression":
        return float(regression_metrics(targets, outputs)[metric])
    return float(classification_metrics(targets, outputs.argmax(-1), labels or [])[metric])


def worse_by(metric: str, *, clean: Any, other: Any) -> Any:
    """How much worse ``other`` is than ``clean`` on ``metric`` (negative: better)."""
    return clean - other if metric in HIGHER_IS_BETTER else other - clean


@dataclass(frozen=True)
class Rows:
    """A model's labelled rows of a data set, ready to predict."""

    file: str  # how errors name the data
    frame: pd.DataFrame
    examples: Examples


def labelled_rows(model: FineTunedModel, data: Any, extra: list[str] | None = None) -> Rows:
    """Read ``data`` and validate the model's columns (and ``extra`` ones) in it."""
    from bizmodel.finetune.data import Columns, check_columns, data_name, make_examples, read_table

    file = data_name(data)
    df = read_table(data)
    check_columns(df, [model.text_column, model.text_pair_column, model.target_column], file)
    check_columns(df, list(extra or []), file)
    cols = Columns(model.text_column, model.target_column, model.text_pair_column)
    ex = make_examples(df, cols, model.task, file=file, labels=model.labels)
    return Rows(file, df, ex)


def predict_texts(model: FineTunedModel, texts: list[str], pairs: list[str] | None) -> np.ndarray:
    """(n,) values or (n, K) probabilities, as :meth:`FineTunedModel.predict`."""
    return np.asarray(model.predict(texts, pairs), dtype=np.float64)
