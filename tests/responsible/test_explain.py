"""Integrated gradients: completeness, the outputs, and the error messages."""

import json

import pytest

from bizmodel.errors import ConfigError
from bizmodel.responsible.explain import explain


@pytest.fixture(scope="module")
def explanation(tiny_model_dir: str):
    return explain(tiny_model_dir, "Acme Corp", "Acme Corp beats quarterly earnings forecasts")


def test_attributions_sum_to_prediction_minus_baseline(explanation, tiny_model_dir: str) -> None:
    from bizmodel.finetune import load_model

    e = explanation
    gap = e.prediction - e.baseline_prediction
    assert abs(gap) > 1e-3  # the text moves the prediction at all
    assert sum(e.attributions) == pytest.approx(gap, abs=2e-3)
    assert sum(e.attributions) - gap == pytest.approx(e.delta, abs=1e-4)
    # The explained output is the model's own prediction.
    pred = load_model(tiny_model_dir).predict(["Acme Corp"], [e.text_pair])[0]
    assert e.prediction == pytest.approx(float(pred), abs=1e-5)
    assert e.tokens[0] == "[CLS]" and e.tokens[-1] == "[SEP]" and "beats" in e.tokens
    assert len(e.tokens) == len(e.attributions)
    assert e.attributions[0] == 0.0  # [CLS] is the same in input and baseline


def test_json_and_html(explanation) -> None:
    d = json.loads(json.dumps(explanation.to_dict()))
    assert d["method"] == "integrated-gradients" and d["target"] is None
    page = explanation.to_html()
    assert page.startswith("<!doctype html>") and ">beats</span>" not in page
    assert "> beats</span>" in page and "background: rgba(" in page
    assert "Acme" in explanation.summary() or "ac" in explanation.summary()


def test_errors_name_what_is_valid(tiny_model_dir: str) -> None:
    with pytest.raises(ConfigError, match=r"reads text pairs .* give --text-pair too"):
        explain(tiny_model_dir, "Acme Corp")
    with pytest.raises(ConfigError, match="unknown explanation method 'shap'; valid: integrated"):
        explain(tiny_model_dir, "Acme Corp", "x", method="shap")
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 2, got 1"):
        explain(tiny_model_dir, "Acme Corp", "x", n_steps=1)


def test_completeness_on_a_lora_model(tiny_lora_model_dir: str) -> None:
    e = explain(tiny_lora_model_dir, "Helix Pharma", "Helix Pharma files for bankruptcy protection")
    assert sum(e.attributions) == pytest.approx(e.prediction - e.baseline_prediction, abs=2e-3)
