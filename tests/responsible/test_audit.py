"""Fairness audit: numbers against closed forms and fairlearn, flags only beyond the noise."""

import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError, DataError
from bizmodel.responsible.audit import audit, audit_arrays, expected_calibration_error


def _regression(n: int = 300, shift: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    seg = np.where(rng.random(n) < 0.5, "a", "b")
    y = rng.normal(size=n)
    pred = y + rng.normal(scale=0.2, size=n) + np.where(seg == "a", shift, 0.0)
    return y, pred, seg


def test_segment_numbers_match_their_definitions() -> None:
    y, pred, seg = _regression(shift=0.3)
    r = audit_arrays("regression", y, pred, seg, n_boot=200)
    a, b = r["segments"]
    ma, mb = seg == "a", seg == "b"
    assert a.n == ma.sum() and a.value == pytest.approx(np.abs(pred - y)[ma].mean())
    assert a.gap == pytest.approx(np.abs(pred - y)[ma].mean() - np.abs(pred - y)[mb].mean())
    assert a.calibration == pytest.approx((pred - y)[ma].mean())
    assert a.metrics["mae"] == pytest.approx(a.value)
    assert r["disparity"]["mae"]["difference"] == pytest.approx(abs(a.value - b.value))
    assert r["disparity"]["mae"]["ratio"] == pytest.approx(
        min(a.value, b.value) / max(a.value, b.value)
    )
    assert r["disparity"]["calibration"]["ratio"] is None  # signed residuals: no ratio
    assert a.gap_ci[0] < a.gap < a.gap_ci[1]


def test_only_the_biased_segment_is_flagged() -> None:
    y, pred, seg = _regression(shift=0.5)
    r = audit_arrays("regression", y, pred, seg, n_boot=500)
    flags = {s.segment: s.flagged for s in r["segments"]}
    assert flags == {"a": True, "b": False}
    assert any("overestimate" in x for x in r["segments"][0].reasons)


def test_no_bias_no_flags_and_seeded() -> None:
    y, pred, seg = _regression(shift=0.0)
    r1 = audit_arrays("regression", y, pred, seg, n_boot=300, seed=4)
    r2 = audit_arrays("regression", y, pred, seg, n_boot=300, seed=4)
    assert not any(s.flagged for s in r1["segments"])
    assert r1["segments"] == r2["segments"]


def test_a_small_noisy_segment_is_not_a_false_alarm() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=212)
    pred = y + rng.normal(scale=0.2, size=212)
    pred[:12] += rng.normal(scale=0.5, size=12)  # 12 rows, noisier: point gap > bound
    seg = np.array(["small"] * 12 + ["big"] * 200)
    r = audit_arrays("regression", y, pred, seg, n_boot=1000, max_difference=0.1)
    small = next(s for s in r["segments"] if s.segment == "small")
    assert small.gap > 0.1 and small.gap_ci[0] < 0.1 and not small.flagged
    tiny = audit_arrays(
        "regression",
        y,
        pred + (np.arange(212) < 3) * 5,
        np.where(np.arange(212) < 3, "three", "rest"),
        n_boot=200,
    )
    three = next(s for s in tiny["segments"] if s.segment == "three")
    assert not three.flagged and "not judged" in three.reasons[0]


def test_ece_closed_form_and_classification_flags() -> None:
    assert expected_calibration_error([1, 1, 0, 0], [0.75, 0.75, 0.75, 0.75]) == 0.25
    rng = np.random.default_rng(2)
    n = 400
    y = rng.integers(0, 2, n)
    seg = np.where(np.arange(n) < 200, "x", "y")
    p_true = np.where(seg == "x", 0.9, 0.55)  # segment y: mostly wrong, still confident
    right = rng.random(n) < p_true
    pred = np.where(right, y, 1 - y)
    probs = np.zeros((n, 2))
    probs[np.arange(n), pred] = 0.9
    probs[np.arange(n), 1 - pred] = 0.1
    r = audit_arrays("classification", y, probs, seg, labels=["neg", "pos"], n_boot=300)
    x_, y_ = r["segments"]
    assert x_.value == pytest.approx(right[:200].mean())
    assert y_.calibration == pytest.approx(abs(right[200:].mean() - 0.9))
    assert y_.flagged and not x_.flagged
    assert r["calibration_name"] == "ece"


def test_argument_errors() -> None:
    y, pred, seg = _regression(n=20)
    with pytest.raises(ConfigError, match="audit metric 'r2' is not a regression row metric"):
        audit_arrays("regression", y, pred, seg, metric="r2")
    with pytest.raises(DataError, match="single value 'a'"):
        audit_arrays("regression", y, pred, np.array(["a"] * 20))
    with pytest.raises(ConfigError, match="n_boot must be >= 100"):
        audit_arrays("regression", y, pred, seg, n_boot=10)


def _frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    from bizmodel.datasets import financial_headlines

    df = financial_headlines(n, seed=seed).drop(columns="split")
    rng = np.random.default_rng(seed)
    df["region"] = np.where(rng.random(n) < 0.5, "north", "south")
    df["sentiment"] += np.where(df["region"] == "north", shift, 0.0)
    return df


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_a_model_trained_on_biased_labels_is_flagged(tmp_path, shift: float) -> None:
    """Training labels of 'north' texts shifted by +1: the audit on true labels flags north."""
    from bizmodel.finetune import train

    out = tmp_path / "m"
    train(_frame(48, 1, shift), text="region", text_pair="headline", target="sentiment",
          output=out, method="frozen", lr=5e-3, epochs=4, patience=4, batch_size=8,
          max_length=32, show_progress=False, num_threads=1,
          metric="mse")  # fmt: skip  # the bias is a level shift: select on MSE, not Pearson
    r = audit(out, _frame(80, 99, 0.0), "region", max_difference=0.1, max_calibration_gap=0.1)
    flagged = [s.segment for s in r.flagged]
    assert flagged == (["north"] if shift else [])
    assert "FLAG" in r.summary() if shift else "0 segment(s) flagged" in r.summary()
    assert r.to_dict()["flagged"] == flagged


def test_audit_needs_the_segment_column(tiny_model_dir: str) -> None:
    from bizmodel.datasets import financial_headlines

    with pytest.raises(DataError, match="unknown column 'region'"):
        audit(tiny_model_dir, financial_headlines(12, seed=0), "region")
    with pytest.raises(ConfigError, match="at least one segment column"):
        audit(tiny_model_dir, financial_headlines(12, seed=0), [])
