import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn import metrics as skm

from bizmodel.finetune.metrics import (
    classification_metrics,
    pearson,
    regression_metrics,
    spearman,
    weighted_cosine,
)

RNG = np.random.default_rng(0)
Y = RNG.normal(size=50)
P = Y + RNG.normal(scale=0.5, size=50)


def test_regression_metrics_match_scipy_and_sklearn() -> None:
    m = regression_metrics(Y, P)
    assert m["mse"] == pytest.approx(skm.mean_squared_error(Y, P), rel=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(Y, P)), rel=1e-12)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(Y, P), rel=1e-12)
    assert m["r2"] == pytest.approx(skm.r2_score(Y, P), rel=1e-12)
    assert m["pearson"] == pytest.approx(stats.pearsonr(Y, P)[0], rel=1e-12)
    assert m["spearman"] == pytest.approx(stats.spearmanr(Y, P)[0], rel=1e-12)


def test_spearman_with_ties_matches_scipy() -> None:
    a = np.array([1, 2, 2, 3, 3, 3, 4.0])
    b = np.array([2, 1, 1, 5, 4, 4, 6.0])
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0], rel=1e-12)


def test_weighted_cosine_closed_forms() -> None:
    # cosine of G and P times the share of instances predicted (SemEval-2017 task 5)
    g, p = np.array([0.5, -0.2, 0.1]), np.array([0.4, -0.1, 0.0])
    cos = g @ p / (np.linalg.norm(g) * np.linalg.norm(p))
    assert weighted_cosine(g, p) == pytest.approx(cos)
    assert weighted_cosine(g, 3 * p) == pytest.approx(cos)  # scale-free
    p_missing = np.array([0.4, np.nan, 0.0])
    q = np.array([0.4, 0.0, 0.0])
    expected = g @ q / (np.linalg.norm(g) * np.linalg.norm(q)) * 2 / 3
    assert weighted_cosine(g, p_missing) == pytest.approx(expected)


def test_constant_prediction_gives_nan_correlation() -> None:
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert np.isnan(m["pearson"]) and np.isnan(m["spearman"])


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, 8, elements=st.floats(-5, 5)),
    arrays(np.float64, 8, elements=st.floats(-5, 5)),
)
def test_pearson_agrees_with_scipy(a: np.ndarray, b: np.ndarray) -> None:
    if np.ptp(a) < 1e-6 or np.ptp(b) < 1e-6:
        return
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-9)


def test_classification_metrics_match_sklearn() -> None:
    t = RNG.integers(0, 4, size=60)
    p = np.where(RNG.random(60) < 0.6, t, RNG.integers(0, 4, size=60))
    p[p == 3] = 2  # class 3 never predicted: its F1 is 0
    labels = ["a", "b", "c", "d"]
    m = classification_metrics(t, p, labels)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(t, p, average="macro", labels=range(4), zero_division=0)
    )
    per = skm.f1_score(t, p, average=None, labels=range(4), zero_division=0)
    assert [m["per_class_f1"][k] for k in labels] == pytest.approx(per)
    assert m["confusion_matrix"] == skm.confusion_matrix(t, p, labels=range(4)).tolist()
