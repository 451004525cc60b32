"""Evaluation metrics for regression and classification: pure numpy/scipy, no I/O.

Regression: MSE, RMSE, MAE, R², Pearson, Spearman and the SemEval-2017 Task 5 weighted
cosine. Classification: accuracy, macro-F1, per-class F1 and the confusion matrix. Every
function takes plain arrays; the keys of the returned dicts are the snake_case names that
``bizmodel evaluate --json`` prints.

Examples
--------
>>> m = regression_metrics([0.5, -0.2, 0.1], [0.4, -0.1, 0.0])
>>> round(m["mse"], 4), round(m["weighted_cosine"], 4)
(0.01, 0.9742)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

#: Metrics where larger is better; the rest (mse, rmse, mae) are better when smaller.
HIGHER_IS_BETTER = frozenset(
    {"r2", "pearson", "spearman", "weighted_cosine", "accuracy", "macro_f1"}
)


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no values to score")
    return t, p


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    r"""Pearson correlation :math:`r = \frac{\sum (x-\bar x)(y-\bar y)}{\sqrt{\sum (x-\bar x)^2
    \sum (y-\bar y)^2}}`; NaN when either input is constant.

    Examples
    --------
    >>> pearson([1, 2, 3], [2, 4, 7])
    0.9933992677987828
    """
    a, b = _pair(x, y)
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float(np.clip((a * b).sum() / denom, -1.0, 1.0)) if denom > 0 else float("nan")


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation: Pearson of the average ranks (ties share their mean rank).

    Examples
    --------
    >>> spearman([1, 2, 3, 4], [1, 3, 2, 4])
    0.8
    """
    a, b = _pair(x, y)
    return pearson(rankdata(a), rankdata(b))


def weighted_cosine(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""SemEval-2017 Task 5 score: :math:`\cos(G, P) \cdot |P| / |G|`.

    :math:`\cos(G, P) = \frac{G \cdot P}{\lVert G\rVert \lVert P\rVert}` over all gold
    instances; :math:`|P|/|G|` is the fraction of gold instances that received a prediction
    (it penalises systems that skip instances, so :math:`|P| \le |G|`). Missing predictions
    are NaN here: they count as 0 in the cosine and are left out of :math:`|P|`, as in the
    task's scorer. With every instance predicted the weight is 1.

    Examples
    --------
    >>> weighted_cosine([0.5, -0.5], [0.25, -0.25])
    1.0
    >>> weighted_cosine([0.5, -0.5, 0.2, 0.1], [0.5, -0.5, float("nan"), float("nan")])
    0.4767...
    """
    g, p = _pair(y_true, y_pred)
    present = np.isfinite(p)
    p = np.where(present, p, 0.0)
    denom = np.linalg.norm(g) * np.linalg.norm(p)
    if denom == 0:
        return 0.0
    return float(g @ p / denom * present.sum() / g.size)


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    r"""All regression metrics of ``y_pred`` against ``y_true``.

    ``mse`` = mean (y - ŷ)², ``rmse`` = √mse, ``mae`` = mean |y - ŷ|,
    ``r2`` = 1 - Σ(y - ŷ)² / Σ(y - ȳ)² (NaN for constant y), ``pearson``, ``spearman``,
    ``weighted_cosine`` (see :func:`weighted_cosine`).

    Examples
    --------
    >>> regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["r2"]
    0.5
    """
    t, p = _pair(y_true, y_pred)
    err = t - p
    mse = float(np.mean(err**2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
        "pearson": pearson(t, p),
        "spearman": spearman(t, p),
        "weighted_cosine": weighted_cosine(t, p),
    }


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of true class ``i`` predicted as class ``j`` (integer codes).

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
    [[1, 0], [1, 1]]
    """
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def classification_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, labels: list[str]
) -> dict[str, Any]:
    r"""Accuracy, macro-F1, per-class F1 and confusion matrix for integer class codes.

    Per class :math:`F_1 = 2\,TP / (2\,TP + FP + FN)` (0 when the class is neither true nor
    predicted); macro-F1 is their unweighted mean over all ``labels``.

    Examples
    --------
    >>> m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["neg", "neu", "pos"])
    >>> m["accuracy"], round(m["macro_f1"], 4), m["per_class_f1"]["neg"]
    (0.75, 0.7778, 1.0)
    """
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"need equally many true and predicted labels, got {t.size}, {p.size}")
    k = len(labels)
    cm = confusion_matrix(t, p, k)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # 2TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return {
        "accuracy": float(tp.sum() / t.size),
        "macro_f1": float(f1.mean()),
        "per_class_f1": {label: float(v) for label, v in zip(labels, f1, strict=True)},
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }
