"""Robustness runs: seeded and reproducible, clean metric equal to evaluate()'s."""

import pytest

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.responsible.robustness import perturb_columns, robustness


@pytest.fixture(scope="module")
def data():
    return financial_headlines(24, seed=5)


def test_seeded_and_reproducible(tiny_model_dir: str, data) -> None:
    from bizmodel.finetune import evaluate

    a = robustness(tiny_model_dir, data, seed=3)
    b = robustness(tiny_model_dir, data, seed=3)
    assert a.to_dict() == b.to_dict()
    assert a.clean == pytest.approx(evaluate(tiny_model_dir, data).metrics["mae"])
    by = {p.kind: p for p in a.perturbations}
    assert list(by) == ["typo", "casing", "entity", "synonym"]
    assert by["typo"].changed == 24 and by["entity"].changed == 24  # every row names a company
    # MiniLM's tokenizer is uncased: casing cannot change a prediction.
    assert by["casing"].prediction_change == 0.0 and by["casing"].drop == 0.0
    assert by["typo"].prediction_change > 0
    assert a.worst.drop == max(p.drop for p in a.perturbations)
    assert "clean mae" in a.summary()


def test_other_seed_other_texts(data) -> None:
    texts, pairs = list(data["company"]), list(data["headline"])
    t1, p1 = perturb_columns(texts, pairs, "typo", seed=1)
    t2, p2 = perturb_columns(texts, pairs, "typo", seed=2)
    assert (t1, p1) == perturb_columns(texts, pairs, "typo", seed=1)
    assert (t1, p1) != (t2, p2)


def test_errors(tiny_model_dir: str, data) -> None:
    with pytest.raises(ConfigError, match="unknown regression metric 'accuracy'; valid: mae"):
        robustness(tiny_model_dir, data, metric="accuracy")
    with pytest.raises(ConfigError, match="unknown perturbation 'leet'"):
        robustness(tiny_model_dir, data, perturbations=["leet"])
