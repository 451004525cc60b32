"""The risk model: a logistic model over the structured fields (plus, optionally, the notes
model's log-odds as one more feature), and a calibrator fitted on a held-out split.

How the text and the fields are combined (stacking): the fine-tuned MiniLM reads the scrubbed
notes alone and gives ``q = P(event | notes)``; the logistic model then sees the standardised
fields and ``notes_logit = log(q / (1 − q))`` (clipped to ``q ∈ [1e-4, 1 − 1e-4]``):

.. math::

    \\operatorname{logit} p = w_0 + \\sum_j w_j \\frac{x_j - m_j}{s_j}

Because events are the minority class, the logistic model is trained with balanced class
weights (each class counts half), as is common for screening models; that raises its scores
above the event rate, so it is *uncalibrated*. The calibrator — isotonic regression or Platt
scaling (a logistic regression on ``logit p``), both from scikit-learn — is then fitted on a
calibration split the classifier never saw, and maps the scores back to probabilities.

Everything a fitted model holds is a few numbers, saved as JSON (no pickles): the served
endpoint evaluates the same formulas with numpy.

Examples
--------
>>> import pandas as pd
>>> X = pd.DataFrame({"age": [30, 40, 50, 60, 70, 80], "bmi": [22, 24, 26, 28, 30, 32]})
>>> clf = RiskClassifier(features=("age", "bmi")).fit(X, [0, 0, 1, 0, 1, 1])
>>> bool(clf.predict_proba(X)[-1] > clf.predict_proba(X)[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError, DataError, NotFittedError
from bizmodel.templates.health.calibration import expected_calibration_error

CALIBRATION_METHODS = ("isotonic", "platt")
_EPS = 1e-4


def _logit(p: Any) -> np.ndarray:
    q = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)))


def _sigmoid(z: Any) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, float))))


class RiskClassifier:
    """Logistic regression on standardised features (scikit-learn), evaluated with numpy.

    Parameters
    ----------
    features : sequence of str
        Columns of the frame passed to ``fit``/``predict_proba``, in order.
    class_weight : {"balanced", None}
        ``"balanced"`` weighs each class by ``n / (2 n_class)`` (see the module docstring).
    C : float
        Inverse L2 regularisation strength of scikit-learn's ``LogisticRegression``.
    """

    def __init__(
        self, features: Sequence[str], *, class_weight: str | None = "balanced", C: float = 1.0
    ) -> None:
        self.features = tuple(features)
        self.class_weight = class_weight
        self.C = C

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise DataError(f"missing feature column(s) {missing}; got {list(X.columns)}")
        return X[list(self.features)].to_numpy(dtype=float)

    def fit(self, X: pd.DataFrame, y: Any) -> RiskClassifier:
        """Fit on frame ``X`` (the ``features`` columns) and 0/1 outcomes ``y``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        if self.class_weight not in ("balanced", None):
            raise ConfigError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        A = self._matrix(X)
        t = np.asarray(y, dtype=int)
        if len(np.unique(t)) != 2:
            raise DataError("the outcome needs both classes (0 and 1) to fit a risk model")
        scaler = StandardScaler().fit(A)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=1000)
        lr.fit(scaler.transform(A), t)
        self.mean_ = scaler.mean_.astype(float)
        self.scale_ = scaler.scale_.astype(float)
        self.coef_ = lr.coef_[0].astype(float)
        self.intercept_ = float(lr.intercept_[0])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """``logit p`` of each row."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("RiskClassifier is not fitted; call fit(X, y) first")
        z = (self._matrix(X) - self.mean_) / self.scale_
        return np.asarray(z @ self.coef_ + self.intercept_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n,) uncalibrated event scores in (0, 1)."""
        return _sigmoid(self.decision_function(X))

    def to_dict(self) -> dict[str, Any]:
        """Features, scaling and coefficients as plain JSON-able values."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("RiskClassifier is not fitted; call fit(X, y) first")
        return {
            "features": list(self.features),
            "class_weight": self.class_weight,
            "C": self.C,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": dict(zip(self.features, self.coef_.tolist(), strict=True)),
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskClassifier:
        """The fitted classifier that ``to_dict`` described."""
        clf = cls(d["features"], class_weight=d["class_weight"], C=d["C"])
        clf.mean_ = np.asarray(d["mean"], float)
        clf.scale_ = np.asarray(d["scale"], float)
        clf.coef_ = np.asarray([d["coef"][f] for f in clf.features], float)
        clf.intercept_ = float(d["intercept"])
        return clf


class Calibrator:
    """Maps scores to calibrated probabilities: isotonic regression or Platt scaling.

    Isotonic: a non-decreasing step function fitted by scikit-learn's ``IsotonicRegression``
    (``out_of_bounds="clip"``), evaluated by linear interpolation between its thresholds (what
    ``IsotonicRegression.predict`` does). Platt: ``σ(a · logit(p) + b)`` with ``a, b`` from an
    (almost unregularised) scikit-learn ``LogisticRegression``.

    Examples
    --------
    >>> c = Calibrator("isotonic").fit([0.2, 0.4, 0.6, 0.8], [0, 0, 1, 1])
    >>> c.predict([0.1, 0.5, 0.9]).tolist()
    [0.0, 0.5, 1.0]
    """

    def __init__(self, method: str = "isotonic") -> None:
        self.method = method

    def fit(self, prob: Any, y: Any) -> Calibrator:
        """Fit on held-out scores ``prob`` and 0/1 outcomes ``y``."""
        if self.method not in CALIBRATION_METHODS:
            raise ConfigError(
                f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, got {self.method!r}"
            )
        p = np.asarray(prob, float)
        t = np.asarray(y, int)
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, t)
            self.x_ = np.asarray(iso.X_thresholds_, float)
            self.y_ = np.asarray(iso.y_thresholds_, float)
        else:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], t)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def predict(self, prob: Any) -> np.ndarray:
        """Calibrated probabilities of the scores ``prob``."""
        p = np.asarray(prob, float)
        if self.method == "isotonic":
            if not hasattr(self, "x_"):
                raise NotFittedError("Calibrator is not fitted; call fit(prob, y) first")
            return np.asarray(np.interp(p, self.x_, self.y_))
        if not hasattr(self, "a_"):
            raise NotFittedError("Calibrator is not fitted; call fit(prob, y) first")
        return _sigmoid(self.a_ * _logit(p) + self.b_)

    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters as plain JSON-able values."""
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x_.tolist(), "y": self.y_.tolist()}
        return {"method": "platt", "a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        """The fitted calibrator that ``to_dict`` described."""
        c = cls(d["method"])
        if c.method == "isotonic":
            c.x_, c.y_ = np.asarray(d["x"], float), np.asarray(d["y"], float)
        else:
            c.a_, c.b_ = float(d["a"]), float(d["b"])
        return c


def notes_logit(notes_prob: Any) -> np.ndarray:
    """The stacking feature: the notes model's event probability on the log-odds scale.

    Examples
    --------
    >>> notes_logit([0.5, 0.0]).round(3).tolist()
    [0.0, -9.21]
    """
    return _logit(notes_prob)


def score_probabilities(prob: Any, y: Any, n_bins: int = 10) -> dict[str, float]:
    """ROC AUC, Brier score and ECE of probabilities ``prob`` against outcomes ``y``.

    Examples
    --------
    >>> score_probabilities([0.1, 0.2, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
    {'auc': 1.0, 'brier': 0.175, 'ece': 0.25, 'mean_prob': 0.5, 'event_rate': 0.75}
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score

    p = np.asarray(prob, float)
    t = np.asarray(y, int)
    return {
        "auc": round(float(roc_auc_score(t, p)), 12),
        "brier": round(float(brier_score_loss(t, p)), 12),
        "ece": expected_calibration_error(p, t, n_bins),
        "mean_prob": round(float(p.mean()), 12),
        "event_rate": round(float(t.mean()), 12),
    }


__all__ = [
    "CALIBRATION_METHODS",
    "Calibrator",
    "RiskClassifier",
    "notes_logit",
    "score_probabilities",
]
