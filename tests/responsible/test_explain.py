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
    with pytest.raises(ConfigError, match="unknown explanation method 'lime'; valid: ig, shap"):
        explain(tiny_model_dir, "Acme Corp", "x", method="lime")
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 2, got 1"):
        explain(tiny_model_dir, "Acme Corp", "x", n_steps=1)


def test_completeness_on_a_lora_model(tiny_lora_model_dir: str) -> None:
    e = explain(tiny_lora_model_dir, "Helix Pharma", "Helix Pharma files for bankruptcy protection")
    assert sum(e.attributions) == pytest.approx(e.prediction - e.baseline_prediction, abs=2e-3)


# ---- SHAP -----------------------------------------------------------------------------------

POLAR = ("Acme", "Acme files for bankruptcy")  # a clearly negative headline


def _brute_force_shapley(model_dir: str, text: str, pair: str) -> tuple[list[float], float, float]:
    """Exact Shapley values from the formula: every coalition of tokens, absent = [PAD]."""
    import itertools
    import math

    import torch

    from bizmodel.finetune import load_model

    model = load_model(model_dir)
    tok = model.tokenizer
    enc = tok(text, pair, return_tensors="pt")
    ids = enc["input_ids"][0]
    special = tok.get_special_tokens_mask(ids.tolist(), already_has_special_tokens=True)
    pos = [i for i, s in enumerate(special) if not s]
    m = len(pos)
    value: dict[frozenset[int], float] = {}
    for r in range(m + 1):
        for subset in itertools.combinations(range(m), r):
            x = ids.clone()
            for j in range(m):
                if j not in subset:
                    x[pos[j]] = tok.pad_token_id
            with torch.no_grad():
                out = model.module(x[None], enc["attention_mask"], enc["token_type_ids"])
            value[frozenset(subset)] = float(out.float()[0])
    phi = [0.0] * len(ids)
    for j in range(m):
        for s, v_s in value.items():
            if j not in s:
                w = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
                phi[pos[j]] += w * (value[s | {j}] - v_s)
    return phi, value[frozenset(range(m))], value[frozenset()]


def test_shap_is_exact_shapley_and_complete(tiny_model_dir: str) -> None:
    text, pair = "Acme", "Acme bankruptcy"  # 5 maskable tokens: every coalition is evaluated
    e = explain(tiny_model_dir, text, pair, method="shap", n_samples=100)
    phi, f_x, f_b = _brute_force_shapley(tiny_model_dir, text, pair)
    assert e.method == "shap" and e.n_steps is None and e.n_samples is not None
    assert e.prediction == pytest.approx(f_x, abs=1e-6)
    assert e.baseline_prediction == pytest.approx(f_b, abs=1e-6)
    assert list(e.attributions) == pytest.approx(phi, abs=1e-5)
    # Completeness (SHAP's efficiency): the values sum to f(x) - f(baseline).
    assert sum(e.attributions) == pytest.approx(f_x - f_b, abs=1e-6)
    assert abs(e.delta) < 1e-6


def test_shap_sampled_is_complete_and_seeded(tiny_model_dir: str) -> None:
    # 6 maskable tokens need 62 coalitions for exactness; 20 samples is an estimate, and the
    # efficiency constraint still makes the values sum exactly to the gap.
    a = explain(tiny_model_dir, *POLAR, method="shap", n_samples=20, seed=3)
    b = explain(tiny_model_dir, *POLAR, method="shap", n_samples=20, seed=3)
    assert a.attributions == b.attributions
    assert sum(a.attributions) == pytest.approx(a.prediction - a.baseline_prediction, abs=1e-6)
    assert a.to_dict()["n_samples"] == a.n_samples and "coalitions" in a.to_html()


def test_shap_and_integrated_gradients_agree_on_the_polar_token(tiny_model_dir: str) -> None:
    ig = explain(tiny_model_dir, *POLAR, method="ig", n_steps=100)
    sh = explain(tiny_model_dir, *POLAR, method="shap")
    assert ig.method == "integrated-gradients" and sh.method == "shap"
    assert ig.top_token() == sh.top_token() == "bankruptcy"
    i = sh.tokens.index("bankruptcy")
    assert ig.attributions[i] < 0 and sh.attributions[i] < 0  # it pulls the score down
    assert ig.prediction == pytest.approx(sh.prediction, abs=1e-6)
    assert ig.baseline_prediction == pytest.approx(sh.baseline_prediction, abs=1e-6)


def test_target_is_only_for_classification(tiny_model_dir: str) -> None:
    with pytest.raises(ConfigError, match="target 'up' is only for classification models"):
        explain(tiny_model_dir, "Acme", "Acme up", target="up")
    with pytest.raises(ConfigError, match="n_samples must be an integer from 2 to 100000, got 1"):
        explain(tiny_model_dir, "Acme", "Acme up", method="shap", n_samples=1)
    with pytest.raises(ConfigError, match=r"n_samples 5 is too few for the 5 tokens.*at least 10"):
        explain(tiny_model_dir, "Acme", "Acme up", method="shap", n_samples=5)
