"""Training end to end on tiny generated data (max_length 32, 1-2 epochs, seconds each)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError, ModelNotFoundError
from bizmodel.finetune import evaluate, load_model, predict_file, train

TINY = {"epochs": 1, "batch_size": 8, "max_length": 32, "show_progress": False, "num_threads": 1}


def _test_rows() -> pd.DataFrame:
    df = financial_headlines(48, seed=0)
    return df[df["split"] == "test"]


def test_model_dir_layout_and_contract(tiny_model_dir: str) -> None:
    d = Path(tiny_model_dir)
    info = json.loads((d / "bizmodel.json").read_text())
    assert info["format"] == "bizmodel-model" and info["format_version"] == 1
    assert info["task"] == "regression" and info["method"] == "full"
    assert info["columns"] == {"text": "company", "text_pair": "headline", "target": "sentiment"}
    assert info["pooling"] == "pooler" and info["max_length"] == 32  # full: BERT's head
    assert info["target_scaling"]["kind"] == "none"
    assert info["data_fingerprint"].startswith("sha256:")
    assert {"mean", "std"} <= set(info["target_scaling"])
    metrics = json.loads((d / "metrics.json").read_text())
    assert {"dev", "test", "train_seconds", "samples_per_second", "train_cpu_seconds"} <= set(
        metrics
    )
    assert json.loads((d / "config.json").read_text())["epochs"] == 1
    assert (d / "model" / "head.safetensors").is_file() and not (d / "adapter").exists()
    assert not list(d.parent.glob(".*"))  # no temp dir or checkpoints left behind

    m = load_model(d)
    assert (m.task, m.labels, m.text_column, m.text_pair_column, m.target_column) == (
        "regression",
        None,
        "company",
        "headline",
        "sentiment",
    )
    rows = _test_rows()
    pred = m.predict(rows["company"].tolist(), rows["headline"].tolist())
    assert pred.shape == (len(rows),) and np.isfinite(pred).all()
    b = m.tokenizer(["Acme"], ["Acme beats forecasts"], return_tensors="pt")
    with torch.no_grad():
        out = m.module(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    assert out.shape == (1,)
    single = m.predict(["Acme"], ["Acme beats forecasts"])
    assert single[0] == pytest.approx(float(out[0]), abs=1e-5)


def test_evaluate_reproduces_training_test_metrics(tiny_model_dir: str) -> None:
    df = financial_headlines(48, seed=0)
    res = evaluate(tiny_model_dir, df, split_column="split", split="test")
    saved = json.loads((Path(tiny_model_dir) / "metrics.json").read_text())["test"]
    assert res.n == len(_test_rows())
    assert res.metrics["mse"] == pytest.approx(saved["mse"], rel=1e-5)
    assert set(res.to_dict()) >= {
        "mse",
        "rmse",
        "mae",
        "r2",
        "pearson",
        "spearman",
        "weighted_cosine",
    }


def test_plain_transformers_reproduces_predictions(tiny_model_dir: str) -> None:
    from transformers import AutoModel, AutoTokenizer

    d = Path(tiny_model_dir)
    info = json.loads((d / "bizmodel.json").read_text())
    rows = _test_rows()
    texts, pairs = rows["company"].tolist(), rows["headline"].tolist()
    # --- no bizmodel below: the recipe documented in bizmodel.finetune.model
    enc = AutoModel.from_pretrained(d / "model").eval()
    tok = AutoTokenizer.from_pretrained(d / "model")
    head = load_file(d / "model" / "head.safetensors")
    x = tok(
        texts,
        pairs,
        padding=True,
        truncation=True,
        max_length=info["max_length"],
        return_tensors="pt",
    )
    with torch.no_grad():
        out = enc(**x)
    if info["pooling"] == "pooler":
        pooled = out.pooler_output
    else:
        mask = x["attention_mask"].unsqueeze(-1).float()
        pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    y = pooled @ head["weight"].T + head["bias"]
    y = y[:, 0] * info["target_scaling"]["std"] + info["target_scaling"]["mean"]
    # ---
    ours = load_model(d).predict(texts, pairs)
    np.testing.assert_allclose(y.numpy(), ours, atol=1e-5)


def test_lora_adapter_reloads_in_plain_peft(tiny_lora_model_dir: str) -> None:
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer

    d = Path(tiny_lora_model_dir)
    info = json.loads((d / "bizmodel.json").read_text())
    assert info["method"] == "lora" and (d / "adapter" / "adapter_config.json").is_file()
    assert info["pooling"] == "mean"  # adapters keep MiniLM's mean pooling
    rows = _test_rows()
    texts, pairs = rows["company"].tolist(), rows["headline"].tolist()
    base = AutoModel.from_pretrained(info["base_model_path"])
    enc = PeftModel.from_pretrained(base, d / "adapter").eval()
    tok = AutoTokenizer.from_pretrained(d / "adapter")
    head = load_file(d / "adapter" / "head.safetensors")
    x = tok(
        texts,
        pairs,
        padding=True,
        truncation=True,
        max_length=info["max_length"],
        return_tensors="pt",
    )
    with torch.no_grad():
        h = enc(**x).last_hidden_state
    mask = x["attention_mask"].unsqueeze(-1).float()
    y = ((h * mask).sum(1) / mask.sum(1)) @ head["weight"].T + head["bias"]
    y = y[:, 0] * info["target_scaling"]["std"] + info["target_scaling"]["mean"]
    ours = load_model(d).predict(texts, pairs)  # bizmodel uses the merged copy in model/
    np.testing.assert_allclose(y.numpy(), ours, atol=1e-4)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("extra", [{}, {"ema_decay": 0.9, "layer_decay": 0.8}])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    tmp_path: Path, extra: dict[str, float]
) -> None:
    df = financial_headlines(40, seed=1)
    kw = dict(text="company", text_pair="headline", target="sentiment", **TINY)
    # no dev rows: 2-fold CV chooses the epochs, then the crash hits the run on all rows
    kw.update(epochs=2, checkpoint_every_steps=6, patience=5, cv_folds=2, **extra)
    train(df, output=tmp_path / "straight", **kw)

    def crash(step: int, loss: float) -> None:
        if step == 6:  # mid-epoch 2 (5 steps per epoch), just after the step-6 checkpoint
            raise _Crash

    with pytest.raises(_Crash):
        train(df, output=tmp_path / "resumed", on_step=crash, **kw)
    assert not (tmp_path / "resumed").exists()  # nothing half-written
    assert (tmp_path / ".resumed.checkpoints" / "last.pt").is_file()
    res = train(df, output=tmp_path / "resumed", resume=True, **kw)
    assert res.epochs_run == 2
    a = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    ha = load_file(tmp_path / "straight" / "model" / "head.safetensors")
    hb = load_file(tmp_path / "resumed" / "model" / "head.safetensors")
    torch.testing.assert_close(ha["weight"], hb["weight"], rtol=0, atol=1e-6)


def test_classification_and_predict_file(tmp_path: Path) -> None:
    df = financial_headlines(40, seed=2)
    df["label"] = np.where(
        df["sentiment"] > 0.2, "pos", np.where(df["sentiment"] < -0.2, "neg", "neutral")
    )
    data = tmp_path / "news.parquet"
    df.to_parquet(data)
    res = train(data, text="headline", target="label", output=tmp_path / "clf",
                schedule="holdout", **TINY)  # fmt: skip  # a dev split, for its metrics
    assert res.task == "classification"
    assert set(res.dev_metrics) >= {"accuracy", "macro_f1", "per_class_f1", "confusion_matrix"}
    m = load_model(tmp_path / "clf")
    assert m.labels == ["neg", "neutral", "pos"] and m.text_pair_column is None
    probs = m.predict(["Acme beats forecasts", "Acme files for bankruptcy"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    out = predict_file(tmp_path / "clf", data, tmp_path / "pred.jsonl")
    pred = pd.read_json(out, lines=True)
    assert {"prediction", "prob_neg", "prob_neutral", "prob_pos"} <= set(pred.columns)
    assert set(pred["prediction"]) <= {"neg", "neutral", "pos"}


@pytest.mark.parametrize("method", ["frozen", "adalora"])
def test_other_methods_train_and_reload(tmp_path: Path, method: str) -> None:
    df = financial_headlines(32, seed=3)
    df["score"] = (df["sentiment"] * 10).round().astype(int)  # integer regression targets
    res = train(
        df, text="headline", target="score", output=tmp_path / method, method=method, **TINY
    )
    assert res.task == "regression" and res.method == method
    pred = load_model(tmp_path / method).predict(["Acme raises dividend"])
    assert pred.shape == (1,) and np.isfinite(pred).all()


def test_not_a_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a bizmodel model dir"):
        load_model(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no such model dir"):
        evaluate(tmp_path / "missing", "x.csv")


def test_pooler_head_reproduced_by_plain_transformers(tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    df = financial_headlines(24, seed=4)
    train(df, text="headline", target="sentiment", output=tmp_path / "p", pooling="pooler",
          **TINY)  # fmt: skip
    d = tmp_path / "p"
    info = json.loads((d / "bizmodel.json").read_text())
    assert info["pooling"] == "pooler"
    texts = ["Acme raises dividend", "Acme hit by accounting scandal"]
    enc = AutoModel.from_pretrained(d / "model").eval()
    x = AutoTokenizer.from_pretrained(d / "model")(texts, padding=True, return_tensors="pt")
    head = load_file(d / "model" / "head.safetensors")
    with torch.no_grad():
        y = enc(**x).pooler_output @ head["weight"].T + head["bias"]
    y = y[:, 0] * info["target_scaling"]["std"] + info["target_scaling"]["mean"]
    np.testing.assert_allclose(y.numpy(), load_model(d).predict(texts), atol=1e-5)


def test_layer_decay_scales_each_encoder_layer_and_ema_changes_the_kept_weights(
    tmp_path: Path,
) -> None:
    from bizmodel.finetune.optim import param_groups
    from bizmodel.pretrained import load_encoder

    enc = load_encoder("packaged")  # 6 layers
    scales = {}
    for g in param_groups(enc, 0.01, 0.5):
        for p in g["params"]:
            scales[id(p)] = g["lr_scale"]
    named = dict(enc.named_parameters())
    assert scales[id(named["encoder.layer.5.output.dense.weight"])] == 0.5
    assert scales[id(named["encoder.layer.0.output.dense.weight"])] == 0.5**6
    assert scales[id(named["embeddings.word_embeddings.weight"])] == 0.5**7
    assert {g["lr_scale"] for g in param_groups(enc, 0.01)} == {1.0}
    df = financial_headlines(40, seed=1)
    kw = dict(text="company", text_pair="headline", target="sentiment", **TINY)
    kw.update(epochs=2, patience=5, schedule="holdout")  # dev metrics of the kept weights
    plain = train(df, output=tmp_path / "plain", **kw)
    ema = train(df, output=tmp_path / "ema", ema_decay=0.9, **kw)
    assert plain.dev_metrics["mse"] != ema.dev_metrics["mse"]
    with pytest.raises(ConfigError, match=r"ema_decay must be in \[0, 1\)"):
        train(df, output=tmp_path / "bad", ema_decay=1.0, **kw)


def test_a_tiny_dev_split_is_noted(tmp_path: Path) -> None:
    df = financial_headlines(330, seed=3)
    dev = df.iloc[:12]
    result = train(df.iloc[12:], text="headline", target="sentiment", dev=dev,
                   output=tmp_path / "m", method="frozen", **TINY)  # fmt: skip
    assert result.n_dev == 12 and result.n_train == 318
    assert len(result.notes) == 1 and "dev split has only 12 rows (318 train)" in result.notes[0]
    assert result.to_dict()["notes"] == list(result.notes)
    assert "note: the dev split has only 12 rows" in result.summary()


def test_threads_are_measured_when_several_cores_are_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bizmodel.finetune.training as training

    def two_free(n: int | None) -> int:  # as if two cores were idle, however busy CI is
        torch.set_num_threads(n or 2)
        return n or 2

    probes: list[tuple[int, dict[int, float]]] = []
    real_probe = training.probe_threads

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        probes.append(real_probe(*args, **kwargs))
        return probes[-1]

    monkeypatch.setattr(training, "configure_threads", two_free)
    monkeypatch.setattr(training, "probe_threads", spy)
    df = financial_headlines(64, seed=4)
    rows = df[df["split"] == "train"]
    opts = {**TINY, "schedule": "fixed"}
    probed = train(rows, text="headline", target="sentiment", output=tmp_path / "a",
                   **{**opts, "num_threads": None})  # fmt: skip
    assert len(probes) == 1
    chosen, per_sample = probes[0]
    assert chosen in (1, 2) and set(per_sample) == {1, 2}
    gain = per_sample[1] / per_sample[2]  # all threads must finish clearly sooner to be kept
    assert chosen == (2 if gain > training.THREADS_MIN_GAIN else 1)
    assert probed.num_threads == chosen == torch.get_num_threads()
    assert probed.threads_probe == {str(k): v for k, v in per_sample.items()}
    assert all(v > 0 for v in probed.threads_probe.values())
    assert f", {chosen} thread(s) (steps predicted from timed ones: " in probed.summary()
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["num_threads"] == chosen and set(metrics["threads_probe"]) == {"1", "2"}
    # the probe trains nothing and leaves the RNG as it was: the same model as a run told
    # to use that many threads from the start (which probes nothing)
    told = train(rows, text="headline", target="sentiment", output=tmp_path / "b",
                 **{**opts, "num_threads": chosen})  # fmt: skip
    assert len(probes) == 1 and told.threads_probe == {} and told.num_threads == chosen
    texts = _test_rows()["headline"].tolist()
    np.testing.assert_allclose(
        load_model(tmp_path / "a").predict(texts), load_model(tmp_path / "b").predict(texts),
        atol=1e-6,
    )  # fmt: skip
