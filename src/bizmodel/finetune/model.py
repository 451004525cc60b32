"""The network: a pre-trained encoder, a pooling step and a linear head.

Why a custom head instead of ``AutoModelForSequenceClassification``: the packaged
all-MiniLM-L6-v2 was trained for *mean-pooled* sentence embeddings (its ``[CLS]`` pooler was
not part of that training), so mean pooling is the clear choice for LoRA and frozen encoders,
whose pooler would not train. Full fine-tuning trains the pooler, and there BERT's classifier
head (``pooling="pooler"``: dense + tanh over ``[CLS]``, on raw targets) scored higher than
mean pooling over z-scores on SemEval-2017 (3 seeds; docs/benchmarks.md), so each method has
its own default (:class:`~bizmodel.finetune.methods.Method`).

The format stays standard: the encoder is a plain ``save_pretrained`` folder, the head
is ``head.safetensors`` (``weight`` (K, H), ``bias`` (K,)), and ``bizmodel.json`` records
the pooling and the target scaling, so plain transformers code reproduces a prediction
in ten lines::

    enc = AutoModel.from_pretrained(d / "model"); tok = AutoTokenizer.from_pretrained(d / "model")
    head = safetensors.torch.load_file(d / "model" / "head.safetensors")
    x = tok(texts, pairs, padding=True, truncation=True, max_length=info["max_length"],
            return_tensors="pt")
    out = enc(**x)
    if info["pooling"] == "pooler":                                    # full fine-tunes
        pooled = out.pooler_output                                     # (B, H)
    else:                                                              # "mean": LoRA, frozen
        m = x["attention_mask"].unsqueeze(-1).float()
        pooled = (out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)
    y = pooled @ head["weight"].T + head["bias"]                       # (B, K)
    y = y[:, 0] * info["target_scaling"]["std"] + info["target_scaling"]["mean"]  # regression

With ``pooling="cls"`` the pooled vector is ``out.last_hidden_state[:, 0]``; with
``pooling="last"`` (decoders: GPT-2, Llama, Qwen2) the last non-pad token's, rows padded on
the right. With ``pooling="head"`` the encoder *is* the architecture's own
``AutoModelForSequenceClassification`` (DistilBERT's pre-classifier, DeBERTa's context
pooler, ELECTRA's dense + GELU, GPT-2's score over the last token, ...) and its logits are
the output: a full fine-tune of a model without a pooler uses it
(:func:`~bizmodel.finetune.architectures.resolve_pooling`). Regression targets may be
standardised for training (z-scores); the module un-scales its output, so
:meth:`TextModel.forward` returns values in the original target units.

Full fine-tunes whose head is the architecture's standard one (``pooler`` on BERT-, RoBERTa-
and MPNet-style models, ``head`` everywhere) are saved as that ``*ForSequenceClassification``
model, target scaling folded into its last layer (:func:`sequence_classification`), so plain
``transformers`` serves them; the ten lines above apply to the others (``model_format``
``"encoder+head"`` in ``bizmodel.json``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from bizmodel.finetune.architectures import first_token_shortcut, uses_token_types
from bizmodel.finetune.config import POOLINGS

#: Poolings whose pooled vector is computed from the first position of the last block alone.
FIRST_TOKEN_POOLINGS = ("cls", "pooler", "head")


class TextModel(nn.Module):
    """Encoder + pooling + linear head.

    Parameters
    ----------
    encoder : nn.Module
        A Hugging Face encoder (``AutoModel``), possibly wrapped by peft; with
        ``pooling="head"`` an ``AutoModelForSequenceClassification`` with ``n_outputs`` labels.
    n_outputs : int
        1 for regression, the number of classes for classification.
    task : str
        ``"regression"`` or ``"classification"``.
    pooling : str
        ``"mean"`` (masked mean of the last hidden states), ``"cls"`` (the first token) or
        ``"pooler"`` (the encoder's own ``pooler_output``: dense + tanh over ``[CLS]``),
        ``"last"`` (the last non-pad token; right padding) or ``"head"`` (the encoder's own
        classification head gives the outputs).
    dropout : float
        Dropout on the pooled vector during training.
    target_mean, target_std : float
        Regression target scaling; outputs are ``raw * std + mean``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        n_outputs: int,
        *,
        task: str,
        pooling: str = "mean",
        dropout: float = 0.1,
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.encoder = encoder
        self.task = task
        self.pooling = pooling
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009 - HF modules
        self.dropout = nn.Dropout(dropout)
        self.head: nn.Linear | None = None if pooling == "head" else nn.Linear(hidden, n_outputs)
        # token_type_ids only for models that embed them (BERT, ELECTRA); what the ONNX
        # export and the runtimes feed (bizmodel.inference.runtime reads input_names)
        self.token_types = uses_token_types(encoder)
        self.input_names = ("input_ids", "attention_mask") + (
            ("token_type_ids",) if self.token_types else ()
        )
        self.target_mean: torch.Tensor
        self.target_std: torch.Tensor
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        # Pooling that reads the first token only lets the last block skip the other
        # positions (checked on a probe batch; architectures.first_token_shortcut).
        self.first_token_only = pooling in FIRST_TOKEN_POOLINGS and self._first_token_only()

    def _first_token_only(self) -> bool:
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            return first_token_shortcut(self.encoder, lambda ids, mask: self.raw(ids, mask))
        finally:
            for m, training in modes:
                m.training = training

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H) hidden states → (B, H) sentence vectors, in float32."""
        hidden = hidden.float()
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "last":  # right padding: the last real token is at length - 1
            last = (attention_mask.sum(1) - 1).clamp(min=0)  # (B,)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def raw(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Head output before un-scaling: (B,) z-scores or (B, K) logits."""
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.token_types:
            kwargs["token_type_ids"] = token_type_ids
        enc = self.encoder(**kwargs)
        if self.head is None:  # "head": the architecture's own classification head
            out = enc.logits.float()  # (B, K)
            return out[:, 0] if self.task == "regression" else out
        if self.pooling == "pooler":
            pooled = enc.pooler_output.float()  # (B, H): tanh(W h_cls + b), pre-trained
        else:
            pooled = self.pool(enc.last_hidden_state, attention_mask)  # (B, T, H) -> (B, H)
        pooled = self.dropout(pooled)
        out = self.head(pooled)  # (B, K)
        return out[:, 0] if self.task == "regression" else out

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B,) predictions in target units (regression) or (B, K) logits (classification)."""
        out = self.raw(input_ids, attention_mask, token_type_ids)
        if self.task == "regression":
            return out * self.target_std + self.target_mean
        return out

    def forward_with_loss(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        targets: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(outputs, loss)`` for training; regression loss is MSE on standardised targets."""
        out = self.raw(input_ids, attention_mask, token_type_ids)
        if self.task == "regression":
            z = (targets.float() - self.target_mean) / self.target_std
            loss = F.mse_loss(out.float(), z)
        else:
            loss = F.cross_entropy(out.float(), targets)
        return out, loss

    def head_state(self) -> dict[str, torch.Tensor]:
        """The head's weights as saved in ``head.safetensors`` (not with ``pooling="head"``)."""
        if self.head is None:
            raise ValueError("pooling 'head': the head is part of the encoder's weights")
        return {
            "weight": self.head.weight.detach().contiguous().clone(),
            "bias": self.head.bias.detach().contiguous().clone(),
        }
