"""What bizmodel asks of a pre-trained model, answered by the model itself, not by its name.

Any Hugging Face encoder (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, MPNet, DeBERTa-v2/v3,
ELECTRA, ModernBERT, ...) or decoder (GPT-2, Llama, Qwen2, Mistral, ...) is used through a few
questions asked of its config and modules:

- :func:`is_decoder`: causal models pool their *last non-pad token* (``pooling="last"``), get
  a pad token (their end-of-text token) when they have none, and pad on the right;
- :func:`has_pooler`: ``pooling="pooler"`` needs the encoder's own pooler (BERT, RoBERTa,
  MPNet have one; DistilBERT, DeBERTa, ELECTRA, ModernBERT and decoders do not);
  :func:`resolve_pooling` falls back to the architecture's own sequence-classification head
  (``pooling="head"``) for full fine-tunes, else to ``cls`` (encoders) or ``last`` (decoders);
- :func:`uses_token_types`: ``token_type_ids`` are passed only to models that embed them;
- :func:`adapter_targets`: the linear layers PEFT methods adapt (every linear layer of the
  repeated transformer blocks: for BERT exactly ``query``, ``key``, ``value``, the attention
  output, ``intermediate.dense`` and ``output.dense``; on MPNet ``attn.q/k/v/o`` too);
  :func:`check_targets` refuses targets that match nothing, with one line;
- :func:`freeze_bottom`: fix the embeddings and the lowest blocks (``freeze_layers``), so that
  backward stops above them.

Examples
--------
>>> from transformers import BertConfig, BertModel
>>> m = BertModel(BertConfig(vocab_size=99, hidden_size=8, num_hidden_layers=1,
...                          num_attention_heads=2, intermediate_size=8))
>>> is_decoder(m.config), has_pooler(m), uses_token_types(m)
(False, True, True)
>>> adapter_targets(m)
('attention.output.dense', 'attention.self.key', 'attention.self.query', 'attention.self.value', 'intermediate.dense', 'output.dense')
>>> check_targets(m, ("q_proj",))
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: adapter target module(s) q_proj match no linear layer of this bert model; valid names end in e.g. attention.output.dense, attention.self.key, attention.self.query, attention.self.value, intermediate.dense, output.dense
"""  # noqa: E501

from __future__ import annotations

import inspect
import re
from typing import Any

from bizmodel.errors import ConfigError

# A repeated block's index in a module name: "encoder.layer.3.", "h.3.", "layers.3."
_BLOCK = re.compile(r"^(.*?\.)?\d+\.")


def base_model(model: Any) -> Any:
    """The transformers model under a peft wrapper (or ``model`` itself)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def is_decoder(config: Any) -> bool:
    """Whether ``config`` is a causal (decoder-only) language model: GPT-2, Llama, Qwen2, ...

    A model type with a causal-LM class and no masked-LM class is a decoder (BERT and RoBERTa
    have both).
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", None)
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in (
        MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


def has_pooler(model: Any) -> bool:
    """Whether the (base) model has a pooler whose ``pooler_output`` it returns."""
    return getattr(base_model(model), "pooler", None) is not None


def uses_token_types(model: Any) -> bool:
    """Whether the model embeds ``token_type_ids`` (segment A/B of a text pair).

    Only models with at least two token types do (BERT, ELECTRA); RoBERTa checkpoints have
    one, DeBERTa-v3 none, and MPNet, DistilBERT, ModernBERT and Llama take no such input.
    GPT-2 takes them but looks them up in its word embeddings, so they are not passed either.
    """
    base = base_model(model)
    if int(getattr(base.config, "type_vocab_size", 0) or 0) < 2:
        return False
    return "token_type_ids" in inspect.signature(base.forward).parameters


def resolve_pooling(requested: str, model: Any, *, full: bool) -> str:
    """The pooling used for ``requested`` on ``model``: ``requested`` unless it cannot work.

    ``"pooler"`` on a model without a pooler becomes ``"head"`` (the architecture's own
    sequence-classification head, trained from scratch) for a full fine-tune, else ``"last"``
    for decoders and ``"cls"`` for encoders. ``"head"`` needs a full fine-tune.
    """
    if requested == "pooler" and not has_pooler(model):
        if full:
            return "head"
        return "last" if is_decoder(model.config) else "cls"
    if requested == "head" and not full:
        raise ConfigError(
            "pooling 'head' (the architecture's own classification head) needs method "
            "'full'; valid with adapters or a frozen encoder: mean, cls, last, pooler"
        )
    return requested


def prepare_tokenizer(tokenizer: Any, model: Any) -> Any:
    """Make ``tokenizer`` fit ``model`` for classification, in place; returns it.

    Decoders without a pad token get their end-of-text token as pad token (it also goes
    into ``model.config.pad_token_id``, which ``*ForSequenceClassification`` reads to find
    the last real token). Padding is on the right, where bizmodel pads. Models that do not
    embed token types stop receiving them from plain ``transformers`` pipelines too.
    """
    config = base_model(model).config
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ConfigError(
                "the tokenizer has no pad, end-of-text or unknown token to pad batches with; "
                "valid: a tokenizer with a pad_token"
            )
        tokenizer.pad_token = fallback
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    if not uses_token_types(model) and "token_type_ids" in tokenizer.model_input_names:
        names = [n for n in tokenizer.model_input_names if n != "token_type_ids"]
        tokenizer.model_input_names = names
        tokenizer.init_kwargs["model_input_names"] = names  # saved in tokenizer_config.json
    return tokenizer


def load_for_training(
    name: str, tokenizer: Any, *, pooling: str, full: bool, n_outputs: int
) -> tuple[Any, str]:
    """``(encoder, pooling)`` for training on the pre-trained model ``name``.

    Loads ``AutoModel``, resolves ``pooling`` on it (:func:`resolve_pooling`); for
    ``"head"`` loads ``AutoModelForSequenceClassification`` with ``n_outputs`` labels instead.
    ``tokenizer`` is fitted to the model (:func:`prepare_tokenizer`).
    """
    from bizmodel.pretrained import load_classifier, load_encoder

    encoder = load_encoder(name)
    used = resolve_pooling(pooling, encoder, full=full)
    if used == "head":
        encoder = load_classifier(name, n_outputs)
    prepare_tokenizer(tokenizer, encoder)
    return encoder, used


_BLOCK_INDEX = re.compile(r"\.(\d+)\.")


def freeze_bottom(model: Any, n: int) -> int:
    """Fix (``requires_grad=False``) every embedding weight and the lowest ``n`` repeated blocks
    of ``model``; returns how many parameters were fixed.

    With nothing below them trainable, backward never reaches these blocks: a step costs their
    forward pass only. ``n`` must leave at least one block trainable (ConfigError, one line).

    Examples
    --------
    >>> from transformers import BertConfig, BertModel
    >>> m = BertModel(BertConfig(vocab_size=99, hidden_size=8, num_hidden_layers=3,
    ...                          num_attention_heads=2, intermediate_size=16))
    >>> freeze_bottom(m, 2) > 0
    True
    >>> sorted({n.split(".")[2] for n, p in m.named_parameters()
    ...         if n.startswith("encoder.") and p.requires_grad})
    ['2']
    >>> try:
    ...     freeze_bottom(m, 3)
    ... except ConfigError as e:
    ...     print(e)
    freeze_layers: 3 would fix all 3 blocks of this bert model; valid: 0 to 2
    """
    named = list(base_model(model).named_parameters())
    blocks = {int(m.group(1)) for name, _ in named if (m := _BLOCK_INDEX.search(name))}
    if n >= len(blocks):
        kind = getattr(getattr(base_model(model), "config", None), "model_type", "this")
        raise ConfigError(
            f"freeze_layers: {n} would fix all {len(blocks)} blocks of this {kind} model; "
            f"valid: 0 to {len(blocks) - 1}"
        )
    fixed = 0
    for name, p in named:
        m = _BLOCK_INDEX.search(name)
        below = int(m.group(1)) < n if m else ("embed" in name or name.split(".")[0] in EMBEDS)
        if below and p.requires_grad:
            p.requires_grad_(False)
            fixed += 1
    return fixed


# GPT-2's token and position embeddings ("wte", "wpe") are not called "embed..."
EMBEDS = ("wte", "wpe")


def _linear_names(model: Any) -> list[str]:
    """Names of the linear layers (``nn.Linear``, GPT-2's ``Conv1D``) of the base model."""
    from torch import nn

    return [
        name
        for name, module in base_model(model).named_modules()
        if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"
    ]


def adapter_targets(model: Any) -> tuple[str, ...]:
    """Module name suffixes of every linear layer inside the model's repeated blocks.

    Layers outside the blocks (the pooler, ELECTRA's embedding projection) are left out:
    mean pooling does not use the pooler. When the blocks hold no linear layer, peft's own
    LoRA mapping for the model type is used; when that has none either, ConfigError.
    """
    suffixes = set()
    for name in _linear_names(model):
        m = _BLOCK.match(name)
        if m:
            suffixes.add(name[m.end() :])
    if not suffixes:
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

        kind = getattr(base_model(model).config, "model_type", None)
        suffixes = set(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(str(kind), ()))
    if not suffixes:
        kind = getattr(base_model(model).config, "model_type", "?")
        raise ConfigError(
            f"found no linear layers to put adapters on in this {kind} model; valid: "
            "give lora_targets (module names), or use method 'full' or 'frozen'"
        )
    targets = tuple(sorted(suffixes))
    # A suffix must not reach a layer outside the blocks (e.g. a pooler's "dense"): then
    # name the block layers in full.
    names = _linear_names(model)
    wanted = {n for n in names if _BLOCK.match(n) and any(_matches(n, t) for t in targets)}
    if wanted and {n for n in names if any(_matches(n, t) for t in targets)} != wanted:
        return tuple(sorted(wanted))
    return targets


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)


def check_targets(model: Any, targets: tuple[str, ...]) -> tuple[str, ...]:
    """``targets`` if each matches a linear layer of ``model``, else ConfigError (one line).

    A target matching nothing would give a silent partial adapter (BERT's ``query`` on MPNet
    adapts only the feed-forward layers), so every one must match.
    """
    names = _linear_names(model)
    missing = [t for t in targets if not any(_matches(n, t) for n in names)]
    if missing:
        kind = getattr(base_model(model).config, "model_type", "?")
        try:
            valid = ", ".join(adapter_targets(model))
        except ConfigError:
            valid = ", ".join(sorted({n.rsplit(".", 1)[-1] for n in names})) or "none"
        raise ConfigError(
            f"adapter target module(s) {', '.join(missing)} match no linear layer of this "
            f"{kind} model; valid names end in e.g. {valid}"
        )
    return targets


def _final_linear(model: Any, n_outputs: int) -> Any:
    """The last linear layer of a ``*ForSequenceClassification`` model giving its logits."""
    from torch import nn

    last = None
    for _, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == n_outputs:
            last = module
    return last


def _probe(vocab_size: int) -> tuple[Any, Any]:
    """Two rows of seeded token ids, the second padded: (2, 7) ids and attention mask."""
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (2, 7), generator=g)  # (B, T)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    return ids, mask


def sequence_classification(
    model: Any, *, task: str, label_names: list[str], verify: bool = True
) -> Any | None:
    """The architecture's ``*ForSequenceClassification`` model computing ``model``, or None.

    ``model`` is a :class:`~bizmodel.finetune.model.TextModel` whose encoder is a plain
    (merged) transformers model. Expressible:

    - ``pooling="head"``: the encoder already is that model;
    - ``pooling="pooler"`` where the standard head is pooler → dropout → linear (BERT,
      ALBERT, ...: the head becomes ``classifier``) or dropout → dense → tanh → dropout →
      linear over the first token (RoBERTa, XLM-RoBERTa, MPNet: the pre-trained pooler's
      dense layer becomes ``classifier.dense``, the head ``classifier.out_proj``).

    Regression target scaling ``y = raw * std + mean`` is folded into the last linear layer
    (``W' = std W``, ``b' = std b + mean``), so the raw output is in target units; after the
    call ``model`` computes the same with its own scaling set to (0, 1). Mean pooling, ``cls``
    and ``last`` have no standard class; neither has a decoder's bias-free score layer with a
    target mean to add: None then. With ``verify`` the result is checked against ``model``
    on a probe batch (relative 1e-4): a mismatch gives None, never a wrong model.
    """
    import copy

    import torch

    n_out = 1 if task == "regression" else len(label_names)
    scale = float(model.target_std) if task == "regression" else 1.0
    shift = float(model.target_mean) if task == "regression" else 0.0
    encoder = model.encoder
    was_training = model.training
    model.eval()
    ids, mask = _probe(int(encoder.config.vocab_size))
    with torch.no_grad():
        reference = model(ids, mask).float()  # (B,) target units or (B, K) logits
    cls: Any
    undo: tuple[Any, ...] = ()
    if model.pooling == "head":
        cls = encoder
        final = _final_linear(cls, n_out)
        if final is None or (final.bias is None and shift != 0.0):
            model.train(was_training)
            return None
        bias = final.bias.detach().clone() if final.bias is not None else None
        undo = (final, final.weight.detach().clone(), bias, shift, scale)
        with torch.no_grad():
            final.weight.mul_(scale)
            if final.bias is not None:
                final.bias.mul_(scale).add_(shift)
            model.target_mean.fill_(0.0)
            model.target_std.fill_(1.0)
    elif model.pooling == "pooler" and model.head is not None:
        from transformers import AutoModelForSequenceClassification

        config = copy.deepcopy(encoder.config)
        config.num_labels = n_out
        with torch.random.fork_rng():  # the throw-away initialisation leaves no trace
            cls = AutoModelForSequenceClassification.from_config(config)
        prefix = cls.base_model_prefix
        state = {f"{prefix}.{k}": v for k, v in encoder.state_dict().items()}
        w = model.head.weight.detach() * scale  # (K, H)
        b = model.head.bias.detach() * scale + shift  # (K,)
        target = set(cls.state_dict())
        if "classifier.weight" in target:  # pooler -> dropout -> classifier
            state.update({"classifier.weight": w, "classifier.bias": b})
        elif {"classifier.dense.weight", "classifier.out_proj.weight"} <= target:
            for part in ("weight", "bias"):  # <s> -> dense -> tanh -> out_proj
                state[f"classifier.dense.{part}"] = state.pop(f"{prefix}.pooler.dense.{part}")
            state.update({"classifier.out_proj.weight": w, "classifier.out_proj.bias": b})
        else:
            model.train(was_training)
            return None
        result = cls.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            model.train(was_training)
            return None
    else:
        model.train(was_training)
        return None
    model.train(was_training)
    cls.eval()
    cls.config.problem_type = (
        "regression" if task == "regression" else "single_label_classification"
    )
    cls.config.id2label = dict(enumerate(label_names))
    cls.config.label2id = {name: i for i, name in enumerate(label_names)}
    if verify:
        with torch.no_grad():
            got = cls(input_ids=ids, attention_mask=mask).logits.float()  # (B, K)
        got = got[:, 0] if task == "regression" else got
        tol = 1e-4 * max(1.0, float(reference.abs().max()))
        if got.shape != reference.shape or float((got - reference).abs().max()) > tol:
            if undo:  # put the unfolded head and the scaling back
                final, weight, bias, shift, scale = undo
                with torch.no_grad():
                    final.weight.copy_(weight)
                    if bias is not None:
                        final.bias.copy_(bias)
                    model.target_mean.fill_(shift)
                    model.target_std.fill_(scale)
            return None
    return cls
