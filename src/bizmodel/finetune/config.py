"""The run configuration of a fine-tuning run, saved as the model dir's ``config.json``.

Examples
--------
>>> c = TrainConfig(text="title", target="score")
>>> c.resolved_lr()  # the method's default
5e-05
>>> c.resolved_pooling(), TrainConfig(text="t", target="y", method="lora").resolved_pooling()
('pooler', 'mean')
>>> TrainConfig(text="t", target="y", epochs=0).validate()
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: epochs must be an integer >= 1, got 0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from bizmodel.errors import ConfigError
from bizmodel.finetune.data import TASKS
from bizmodel.finetune.methods import get_method

POOLINGS = ("mean", "cls", "pooler", "last", "head")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCALINGS = ("standard", "none")
SCHEDULES = ("cv", "holdout", "fixed")


def selection_metric(task: str | None, metric: str | None = None) -> str:
    """The metric a run selects and reports on: ``metric`` when given, else pearson
    (regression) or macro_f1 (classification).

    Scale-free on purpose: on small dev sets the MSE of standardised targets prefers
    under-trained epochs whose predictions hug the mean (LoRA on SemEval headlines: MSE
    restored epoch 1, test 0.670; selecting on correlation kept epoch 5, test 0.746).

    Examples
    --------
    >>> selection_metric("regression"), selection_metric("classification", "accuracy")
    ('pearson', 'accuracy')
    """
    if metric:
        return metric
    return "macro_f1" if task == "classification" else "pearson"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's result (plus a few speed knobs)."""

    text: str  # column with the (first) text
    target: str  # column with the regression value or class label
    text_pair: str | None = None  # column with the second text of a pair
    task: str | None = None  # "regression" | "classification"; None = inferred from target
    method: str = "full"  # full | lora | adalora | frozen | any registered PEFT method
    model: str = "packaged"  # base encoder: "packaged", a local folder or a hub id
    # most epochs: with dev rows early stopping may end sooner; without, schedule "cv"
    # chooses 1..epochs by cross-validation
    epochs: int = 6
    lr: float | None = None  # peak learning rate; None = the method's default
    batch_size: int = 16
    max_length: int = 128  # tokens per row (pair) after truncation; no padding to it
    seed: int = 0  # seeds init, dropout, shuffling and the dev split
    data_seed: int | None = None  # seeds shuffling and dropout only; None = seed
    soup: int = 1  # > 1: that many fine-tunes (other data_seed), weights averaged (soup.py)
    # "mean" (what MiniLM was trained with), "cls", "pooler" (BERT's pre-trained dense+tanh
    # over [CLS], what AutoModelForSequenceClassification uses), "last" (last non-pad token,
    # for decoders) or "head" (the architecture's own classification head; full only);
    # None = the method's default (full: pooler; LoRA, AdaLoRA, frozen: mean). "pooler" on a
    # model without one (DistilBERT, DeBERTa, ELECTRA, decoders) becomes "head" for full,
    # else cls/last; bizmodel.json records the pooling used
    pooling: str | None = None
    # regression: train on z-scores ("standard") or raw targets ("none"); None = the method's
    # default (full: none; the others: standard)
    target_scaling: str | None = None
    dropout: float = 0.1  # on the pooled vector
    warmup_ratio: float = 0.1  # linear warm-up over this fraction of steps, then linear decay
    weight_decay: float = 0.01  # AdamW, not applied to biases and LayerNorm
    max_grad_norm: float = 1.0  # gradient clipping (L2 norm over all trainable weights)
    patience: int = 3  # early stopping: epochs without dev improvement (2 cut LoRA runs short)
    # Without dev rows (no dev file, no dev rows in the split column): "cv" = k-fold
    # cross-validation on the training rows chooses the epoch count, then one model is trained
    # on ALL rows for it (schedule.py); "holdout" = a seeded 10% becomes the dev split with
    # early stopping (those rows are not trained on; the default before 0.x); "fixed" = all
    # rows, exactly `epochs` epochs, nothing chosen (a plain Trainer script's behaviour)
    schedule: str = "cv"
    cv_folds: int | None = None  # "cv": folds; None = by rows (5 to 2k, 3 to 20k, else 1)
    metric: str | None = None  # dev metric to select on; None = pearson / macro_f1
    freeze_embeddings: bool = True  # full: keep the word-embedding matrix (half of MiniLM) fixed
    # full: also fix all embeddings and the lowest N transformer blocks; backward stops above
    # them (a speed option: fewer FLOPs per step; docs/benchmarks.md measures what it costs)
    freeze_layers: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    # module name suffixes PEFT methods adapt, each must match a linear layer; None = every
    # linear layer of the model's transformer blocks (any architecture)
    lora_targets: tuple[str, ...] | None = None
    checkpoint_every_steps: int = 200  # plus one at every epoch end; 0 = epoch ends only
    # autocast: "auto" = bf16 on a CPU with native bf16 or a GPU with it, fp16 with a gradient
    # scaler on older GPUs, else fp32; "fp16" needs CUDA (finetune.device.amp_plan)
    precision: str = "auto"
    # "auto" = cuda if available, else mps, else cpu; or "cpu", "cuda", "cuda:N", "mps"
    # (bizmodel.hardware.resolve_device; metrics.json records the device used and its GPU)
    device: str = "auto"
    num_threads: int | None = None  # torch threads; None = idle CPUs (CPUs - 1-min load)
    eval_batch_size: int = 64
    bucket_pool: int = 50  # batches sorted together by length; 1 = almost no bucketing
    augment: int = 0  # perturbed copies of each training row (bizmodel.responsible.augment)
    ema_decay: float = 0.0  # > 0: evaluate and keep an exponential moving average of the weights
    layer_decay: float = 1.0  # < 1: layer-wise lr decay, lr x decay^(layers above) per layer

    def resolved_lr(self) -> float:
        """The learning rate used: ``lr``, or the method's default (its soup default in soups)."""
        if self.lr is not None:
            return float(self.lr)
        method = get_method(self.method)
        if self.soup > 1 and method.soup_lr is not None:
            return method.soup_lr
        return method.default_lr

    def resolved_pooling(self) -> str:
        """The pooling used: ``pooling`` or the method's default."""
        return self.pooling or get_method(self.method).default_pooling

    def resolved_target_scaling(self) -> str:
        """The regression target scaling used: ``target_scaling`` or the method's default."""
        return self.target_scaling or get_method(self.method).default_target_scaling

    def validate(self) -> TrainConfig:
        """Check every field; raise ConfigError naming the field, the value and what is valid."""

        def need(ok: bool, name: str, valid: str) -> None:
            if not ok:
                raise ConfigError(f"{name} must be {valid}, got {getattr(self, name)!r}")

        def pos_int(name: str, low: int = 1) -> None:
            v = getattr(self, name)
            need(
                isinstance(v, int) and not isinstance(v, bool) and v >= low,
                name,
                f"an integer >= {low}",
            )

        get_method(self.method)
        need(self.task is None or self.task in TASKS, "task", " or ".join(TASKS))
        for name in (
            "epochs",
            "batch_size",
            "eval_batch_size",
            "bucket_pool",
            "lora_r",
            "lora_alpha",
        ):
            pos_int(name)
        pos_int("max_length", 8)
        pos_int("patience")
        pos_int("checkpoint_every_steps", 0)
        pos_int("augment", 0)
        pos_int("soup")
        pos_int("freeze_layers", 0)
        need(self.lr is None or float(self.lr) > 0, "lr", "a positive number")
        need(self.pooling is None or self.pooling in POOLINGS, "pooling", " or ".join(POOLINGS))
        need(
            self.target_scaling is None or self.target_scaling in SCALINGS,
            "target_scaling",
            " or ".join(SCALINGS),
        )
        need(self.precision in PRECISIONS, "precision", " or ".join(PRECISIONS))
        need(self.schedule in SCHEDULES, "schedule", " or ".join(SCHEDULES))
        kind, _, index = str(self.device).lower().partition(":")
        need(
            kind in ("auto", "cpu", "cuda", "mps") and (not index or kind == "cuda"),
            "device",
            "auto, cpu, cuda, cuda:N or mps",
        )
        if self.cv_folds is not None:
            pos_int("cv_folds")
        need(0 <= self.warmup_ratio < 1, "warmup_ratio", "in [0, 1)")
        need(0 <= self.dropout < 1, "dropout", "in [0, 1)")
        need(0 <= self.lora_dropout < 1, "lora_dropout", "in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", ">= 0")
        need(self.max_grad_norm > 0, "max_grad_norm", "> 0")
        need(0 <= self.ema_decay < 1, "ema_decay", "in [0, 1) (0 = off)")
        need(0 < self.layer_decay <= 1, "layer_decay", "in (0, 1] (1 = off)")
        need(self.num_threads is None or self.num_threads >= 1, "num_threads", ">= 1")
        need(
            self.lora_targets is None
            or (
                isinstance(self.lora_targets, tuple | list)
                and len(self.lora_targets) > 0
                and all(isinstance(t, str) and t for t in self.lora_targets)
            ),
            "lora_targets",
            "a non-empty list of module names such as ('query', 'value')",
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}
