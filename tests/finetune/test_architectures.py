"""Any Hugging Face architecture: tiny random models of each family, trained and served.

Each base model is built offline from its config (hidden size 32, 2 layers, 2 heads) with the
packaged MiniLM's WordPiece tokenizer saved beside it, fine-tuned for one epoch on 24 rows,
reloaded by bizmodel, by plain ``transformers`` in a separate interpreter that never imports
bizmodel (full fine-tunes: ``pipeline("text-classification")``), and by plain ``peft`` (LoRA).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.finetune import load_model, train

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
TINY = {"epochs": 1, "batch_size": 8, "max_length": 32, "show_progress": False, "num_threads": 1}
COLS = {"text": "company", "text_pair": "headline", "target": "sentiment"}


def _configs(vocab: int, pad: int, cls: int, sep: int) -> dict[str, Callable[[], Any]]:
    import transformers as tf

    enc = {**SMALL, "intermediate_size": 37, "vocab_size": vocab}
    dec = {**enc, "num_key_value_heads": 1, "max_position_embeddings": 64, "pad_token_id": pad}
    roberta = {**enc, "max_position_embeddings": 66, "pad_token_id": pad, "type_vocab_size": 1}
    configs: dict[str, Callable[[], Any]] = {
        "bert": lambda: tf.BertConfig(**enc, max_position_embeddings=64),
        "roberta": lambda: tf.RobertaConfig(**roberta),
        "xlm-roberta": lambda: tf.XLMRobertaConfig(**roberta),
        "distilbert": lambda: tf.DistilBertConfig(
            vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=37, pad_token_id=pad
        ),
        "mpnet": lambda: tf.MPNetConfig(**enc, max_position_embeddings=66, pad_token_id=pad),
        "deberta-v2": lambda: tf.DebertaV2Config(
            **enc,
            max_position_embeddings=64,
            relative_attention=True,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            position_buckets=16,
            pad_token_id=pad,
        ),
        "electra": lambda: tf.ElectraConfig(**enc, embedding_size=16, max_position_embeddings=64),
        "gpt2": lambda: tf.GPT2Config(
            vocab_size=vocab,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_inner=37,
            n_positions=64,
            pad_token_id=pad,
            bos_token_id=cls,
            eos_token_id=sep,
        ),
        "llama": lambda: tf.LlamaConfig(**dec),
        "qwen2": lambda: tf.Qwen2Config(**dec),
        "mistral": lambda: tf.MistralConfig(**dec),
    }
    if hasattr(tf, "ModernBertConfig"):
        configs["modernbert"] = lambda: tf.ModernBertConfig(
            **enc,
            max_position_embeddings=64,
            pad_token_id=pad,
            cls_token_id=cls,
            sep_token_id=sep,
            bos_token_id=cls,
            eos_token_id=sep,
        )
    return configs


ARCHS = [
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "mpnet",
    "deberta-v2",
    "electra",
    "modernbert",
    "gpt2",
    "llama",
    "qwen2",
    "mistral",
]
CLASSIFIERS = ["bert", "roberta", "distilbert", "gpt2"]  # one of each way a head is saved


class Zoo:
    """Tiny base models and fine-tunes, each built once per module on first use."""

    def __init__(self, root: Path) -> None:
        from transformers import AutoTokenizer

        from bizmodel.pretrained import resolve_model_path

        self.root = root
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("packaged"))
        t = self.tokenizer
        self.configs = _configs(len(t), t.pad_token_id, t.cls_token_id, t.sep_token_id)
        self.data = financial_headlines(24, seed=0)
        self.runs: dict[tuple[str, str, str], Path] = {}

    def base(self, arch: str) -> Path:
        from transformers import AutoModel

        if arch not in self.configs:
            pytest.skip(f"this transformers has no {arch}")
        path = self.root / "base" / arch
        if not path.exists():
            torch.manual_seed(0)
            AutoModel.from_config(self.configs[arch]()).save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        return path

    def trained(self, arch: str, method: str, task: str = "regression") -> Path:
        """The fine-tune; method ``"lora+pooler"`` is LoRA with the pooler as its head."""
        key = (arch, method, task)
        if key not in self.runs:
            out = self.root / f"{arch}-{method}-{task}"
            method, _, pooling = method.partition("+")
            df, target = self.data, "sentiment"
            if task == "classification":
                df = df.assign(label=np.where(df["sentiment"] > 0, "up", "down"))
                target = "label"
            train(
                df,
                **{**COLS, "target": target},
                output=out,
                model=str(self.base(arch)),
                method=method,
                split_column="split",
                **({"pooling": pooling} if pooling else {}),
                **TINY,
            )
            self.runs[key] = out
        return self.runs[key]


@pytest.fixture(scope="module")
def zoo(module_tmp_path: Path) -> Zoo:
    return Zoo(module_tmp_path)


def _rows(zoo: Zoo) -> tuple[list[str], list[str]]:
    rows = zoo.data[zoo.data["split"] != "train"]
    return rows["company"].tolist(), rows["headline"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_trains_saves_and_reloads(zoo: Zoo, arch: str, method: str) -> None:
    d = zoo.trained(arch, method)
    info = json.loads((d / "bizmodel.json").read_text())
    texts, pairs = _rows(zoo)
    pred = load_model(d).predict(texts, pairs)
    assert pred.shape == (len(texts),) and np.isfinite(pred).all()
    assert np.ptp(pred) > 0  # not a constant: the texts reach the output
    if method == "full":
        # BERT-, RoBERTa- and MPNet-style models keep their pooler; the others get their
        # architecture's own head; both are saved as the standard class, plain-servable
        has_pooler = arch in ("bert", "roberta", "xlm-roberta", "mpnet")
        assert info["pooling"] == ("pooler" if has_pooler else "head")
        assert info["model_format"] == "sequence-classification"
        assert info["plain_transformers"] is True
    else:
        assert info["pooling"] == "mean" and info["model_format"] == "encoder+head"


@pytest.mark.parametrize("method", ["adalora", "frozen"])
@pytest.mark.parametrize("arch", ["mpnet", "deberta-v2", "gpt2"])
def test_other_methods_on_other_architectures(zoo: Zoo, arch: str, method: str) -> None:
    d = zoo.trained(arch, method)
    texts, pairs = _rows(zoo)
    pred = load_model(d).predict(texts, pairs)
    assert pred.shape == (len(texts),) and np.isfinite(pred).all()
    assert json.loads((d / "bizmodel.json").read_text())["has_adapter"] is (method == "adalora")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_lora_adapts_every_block_linear_layer_and_reloads_in_plain_peft(
    zoo: Zoo, arch: str
) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    d = zoo.trained(arch, "lora")
    info = json.loads((d / "bizmodel.json").read_text())
    texts, pairs = _rows(zoo)
    base = AutoModel.from_pretrained(zoo.base(arch)).eval()
    linear = {
        n
        for n, m in base.named_modules()
        if isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D"
    }
    peft_model = PeftModel.from_pretrained(base, d / "adapter").eval()
    adapted = {
        n.split("base_model.model.", 1)[-1]
        for n, m in peft_model.named_modules()
        if hasattr(m, "lora_A")
    }
    in_blocks = {n for n in linear if any(part.isdigit() for part in n.split("."))}
    assert adapted == in_blocks  # attention and feed-forward, e.g. MPNet's attn.q/k/v/o
    tok = AutoTokenizer.from_pretrained(d / "adapter")
    x = tok(
        texts,
        pairs,
        padding=True,
        truncation=True,
        max_length=info["max_length"],
        return_tensors="pt",
    )
    # the saved tokenizer gives token_type_ids only to models that embed them
    assert ("token_type_ids" in x) == (arch in ("bert", "electra"))
    head = load_file(d / "adapter" / "head.safetensors")
    scaling = info["target_scaling"]
    ours = load_model(d).predict(texts, pairs)
    for model in (peft_model, AutoModel.from_pretrained(d / "model").eval()):  # adapter, merged
        with torch.no_grad():
            h = model(**x).last_hidden_state  # (B, T, H)
        mask = x["attention_mask"].unsqueeze(-1).float()
        y = ((h * mask).sum(1) / mask.sum(1)) @ head["weight"].T + head["bias"]
        y = y[:, 0] * scaling["std"] + scaling["mean"]
        np.testing.assert_allclose(y.numpy(), ours, atol=1e-5)


# Run by a separate interpreter: plain transformers only, no bizmodel import.
PLAIN = """
import json, sys
from transformers import AutoModelForSequenceClassification, pipeline
out = []
for case in json.load(open(sys.argv[1])):
    model = AutoModelForSequenceClassification.from_pretrained(case["dir"])
    regression = case["task"] == "regression"
    pipe = pipeline("text-classification", model=case["dir"], top_k=None,
                    function_to_apply="none" if regression else "softmax")
    rows = [{"text": t, "text_pair": p} for t, p in zip(case["texts"], case["pairs"])]
    # batches of unequal lengths: padding must be right; truncation where bizmodel truncates
    got = pipe(rows, batch_size=4, truncation=True)
    if regression:
        values = [r[0]["score"] for r in got]
    else:
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        values = [[{d["label"]: d["score"] for d in r}[n] for n in names] for r in got]
    out.append({"values": values, "class": type(model).__name__,
                "problem_type": model.config.problem_type,
                "labels": [model.config.id2label[i] for i in range(model.config.num_labels)]})
print(json.dumps(out))
"""


@pytest.mark.slow
def test_plain_transformers_pipeline_serves_standard_heads(zoo: Zoo, tmp_path: Path) -> None:
    cases, ours = [], []
    texts, pairs = _rows(zoo)
    runs = [(a, "full", "regression") for a in ARCHS if a in zoo.configs]
    runs += [(a, "full", "classification") for a in CLASSIFIERS]
    # a PEFT method with a standard head: its merged copy is served the same way
    runs += [("roberta", "lora+pooler", "regression"), ("bert", "lora+pooler", "classification")]
    for arch, method, task in runs:
        d = zoo.trained(arch, method, task)
        assert json.loads((d / "bizmodel.json").read_text())["plain_transformers"] is True
        model = load_model(d)
        ours.append((model.predict(texts, pairs), model.labels))
        cases.append({"dir": str(d / "model"), "task": task, "texts": texts, "pairs": pairs})
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PLAIN, str(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    plain = json.loads(done.stdout.strip().splitlines()[-1])
    for (arch, _, task), (pred, labels), got in zip(runs, ours, plain, strict=True):
        assert got["class"].endswith("ForSequenceClassification"), arch
        if task == "regression":
            assert got["problem_type"] == "regression" and got["labels"] == ["sentiment"]
        else:
            assert got["labels"] == labels == ["down", "up"]
        np.testing.assert_allclose(np.array(got["values"]), pred, atol=1e-5, err_msg=arch)


def test_standard_scaling_is_folded_into_the_saved_classifier(zoo: Zoo) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = zoo.root / "bert-standard"
    train(
        zoo.data,
        **COLS,
        output=out,
        model=str(zoo.base("bert")),
        target_scaling="standard",
        split_column="split",
        **TINY,
    )
    info = json.loads((out / "bizmodel.json").read_text())
    assert info["target_scaling"]["kind"] == "standard" and info["target_scaling"]["folded"]
    assert info["target_scaling"]["std"] != 1.0
    texts, pairs = _rows(zoo)
    tok = AutoTokenizer.from_pretrained(out / "model")
    model = AutoModelForSequenceClassification.from_pretrained(out / "model").eval()
    with torch.no_grad():
        y = model(**tok(texts, pairs, padding=True, return_tensors="pt")).logits[:, 0]
    np.testing.assert_allclose(y.numpy(), load_model(out).predict(texts, pairs), atol=1e-5)


def test_a_peft_method_with_no_matching_module_is_a_one_line_error(zoo: Zoo) -> None:
    kw = {**COLS, "model": str(zoo.base("mpnet")), "split_column": "split", **TINY}
    # BERT's names on MPNet: "query" matches nothing there (its attention is attn.q/k/v/o)
    one_line = (
        r"^adapter target module\(s\) query match no linear layer of this mpnet model; "
        r"valid names end in e\.g\. .*attention\.attn\.q[^\n]*$"
    )
    with pytest.raises(ConfigError, match=one_line):
        targets = ("query", "output.dense")
        train(zoo.data, output=zoo.root / "x", method="lora", lora_targets=targets, **kw)
    with pytest.raises(ConfigError, match=r"^lora_targets must be a non-empty list"):
        train(zoo.data, output=zoo.root / "x", method="lora", lora_targets=(), **kw)
    with pytest.raises(ConfigError, match=r"^pooling 'head' .* needs method 'full'"):
        train(zoo.data, output=zoo.root / "x", method="lora", pooling="head", **kw)


def test_decoders_get_a_pad_token_and_right_padding(zoo: Zoo) -> None:
    from transformers import AutoModel, AutoTokenizer

    from bizmodel.finetune.architectures import is_decoder, prepare_tokenizer, uses_token_types

    tok = AutoTokenizer.from_pretrained(zoo.base("gpt2"))
    tok.pad_token, tok.padding_side = None, "left"
    tok.eos_token = "[SEP]"
    model = AutoModel.from_pretrained(zoo.base("gpt2"))
    model.config.pad_token_id = None
    prepare_tokenizer(tok, model)
    assert is_decoder(model.config) and not uses_token_types(model)
    assert tok.pad_token == "[SEP]" and model.config.pad_token_id == tok.sep_token_id
    assert tok.padding_side == "right" and "token_type_ids" not in tok.model_input_names
    assert not is_decoder(AutoModel.from_pretrained(zoo.base("bert")).config)


@pytest.mark.parametrize("arch", ARCHS)
def test_freeze_bottom_fixes_embeddings_and_the_lowest_blocks_only(zoo: Zoo, arch: str) -> None:
    from transformers import AutoModel

    from bizmodel.finetune.architectures import freeze_bottom

    m = AutoModel.from_pretrained(zoo.base(arch))
    fixed = freeze_bottom(m, 1)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    assert len(frozen) == fixed > 0
    # block 0 and every embedding fixed; every parameter of block 1 trainable
    embeddings = ("wte", "wpe")  # GPT-2's names
    assert all(".0." in f".{n}" or "embed" in n or n.split(".")[0] in embeddings for n in frozen)
    assert any(".1." in f".{n}" for n in trainable)
    assert not any(".0." in f".{n}" for n in trainable)
    with pytest.raises(ConfigError, match=r"^freeze_layers: 2 would fix all 2 blocks"):
        freeze_bottom(AutoModel.from_pretrained(zoo.base(arch)), 2)


def test_training_with_frozen_layers_leaves_them_as_they_were(zoo: Zoo, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    base = zoo.base("bert")
    out = tmp_path / "m"
    train(
        zoo.data,
        **COLS,
        output=out,
        model=str(base),
        split_column="split",
        freeze_layers=1,
        **{**TINY, "schedule": "fixed"},
    )
    before = load_file(base / "model.safetensors")
    after = load_file(next((out / "model").glob("*.safetensors")))
    pick = {k.removeprefix("bert."): v for k, v in after.items()}
    low = "encoder.layer.0.attention.self.query.weight"
    high = "encoder.layer.1.attention.self.query.weight"
    assert torch.equal(pick[low], before[low])  # fixed: bit for bit the pre-trained weights
    assert not torch.equal(pick[high], before[high])  # trained


def test_freeze_layers_with_a_peft_method_is_a_one_line_error(zoo: Zoo, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^freeze_layers: only full fine-tuning.*'lora'"):
        train(
            zoo.data,
            **COLS,
            output=tmp_path / "m",
            model=str(zoo.base("bert")),
            method="lora",
            split_column="split",
            freeze_layers=1,
            **TINY,
        )
    assert not (tmp_path / "m").exists()


# the block layouts whose last block computes the first position alone
FIRST_TOKEN = {"bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"}


@pytest.mark.parametrize("attention", ["default", "eager"])  # default: SDPA where supported
@pytest.mark.parametrize("arch", ARCHS)
def test_first_token_shortcut_gives_the_full_models_outputs_and_gradients(
    zoo: Zoo, arch: str, attention: str
) -> None:
    from transformers import AutoModel

    from bizmodel.finetune.architectures import has_pooler, is_decoder
    from bizmodel.finetune.model import TextModel

    torch.manual_seed(0)
    kwargs = {} if attention == "default" else {"attn_implementation": attention}
    encoder = AutoModel.from_pretrained(zoo.base(arch), **kwargs)
    pooling = "last" if is_decoder(encoder.config) else "pooler" if has_pooler(encoder) else "cls"
    model = TextModel(encoder, 3, task="classification", pooling=pooling).eval()
    assert model.first_token_only == (arch in FIRST_TOKEN)
    texts, pairs = _rows(zoo)
    x = zoo.tokenizer(texts[:6], pairs[:6], padding=True, return_tensors="pt")
    assert int(x["attention_mask"].sum(1).min()) < x["attention_mask"].shape[1]  # padded rows
    if not model.first_token_only:
        return
    block = (encoder.encoder if arch != "distilbert" else encoder.transformer).layer[-1]

    def run(shortcut: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        block.first_token_only = shortcut
        model.zero_grad()
        out = model(x["input_ids"], x["attention_mask"], x.get("token_type_ids"))  # (B, 3)
        out.square().sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return out.detach(), grads

    short, short_grads = run(True)
    full, full_grads = run(False)
    assert torch.allclose(short, full, rtol=1e-5, atol=1e-6)
    assert short_grads.keys() == full_grads.keys()
    for name, g in full_grads.items():
        assert torch.allclose(short_grads[name], g, rtol=1e-4, atol=1e-6), name
    block.first_token_only = True
    hidden = encoder(x["input_ids"], x["attention_mask"]).last_hidden_state
    assert hidden.shape[1] == 1  # the other positions were never computed


def test_first_token_shortcut_stays_off_where_other_positions_are_read(zoo: Zoo) -> None:
    from transformers import AutoModel

    from bizmodel.finetune.model import TextModel

    encoder = AutoModel.from_pretrained(zoo.base("bert"))
    mean = TextModel(encoder, 1, task="regression", pooling="mean")
    assert not mean.first_token_only
    assert "forward" not in vars(encoder.encoder.layer[-1])
    ids = torch.tensor([[2, 7, 9, 3]])
    assert encoder(ids).last_hidden_state.shape[1] == 4


@pytest.mark.parametrize("arch", ["bert", "distilbert", "mpnet", "deberta-v2"])
def test_saved_first_token_models_load_with_the_shortcut_and_plain_ones_without(
    zoo: Zoo, arch: str
) -> None:
    # full fine-tunes are saved as *ForSequenceClassification: heads over the first token
    full = load_model(zoo.trained(arch, "full"))
    assert full.module.first_token_only == (arch in FIRST_TOKEN)
    texts, pairs = _rows(zoo)
    shortcut = full.predict(texts, pairs)
    if full.module.first_token_only:
        (block,) = [m for m in full.module.modules() if "forward" in vars(m)]  # the last one
        block.first_token_only = False
        np.testing.assert_allclose(full.predict(texts, pairs), shortcut, rtol=1e-5, atol=1e-6)
    lora = load_model(zoo.trained(arch, "lora"))  # mean pooling reads every position
    assert not lora.module.first_token_only
