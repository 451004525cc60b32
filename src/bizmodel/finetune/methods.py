"""Fine-tuning methods: full, frozen encoder, and PEFT methods through one registry.

A method says which parameters train and (for PEFT methods) builds the ``peft`` config that
wraps the encoder. Adding another PEFT method is one :func:`register_method` call with a
function returning its config, e.g. IA³ or LoHa::

    register_method(Method("loha", default_lr=1e-3,
                           peft_config=lambda o: peft.LoHaConfig(r=o.r, alpha=o.alpha,
                                                                 target_modules=o.targets)))

The head (pooling + linear layer) always trains, outside the PEFT wrapper, and is saved next
to the adapter. Adapters go on the model's own linear layers, asked of the model
(:func:`~bizmodel.finetune.architectures.adapter_targets`: every linear layer of its
transformer blocks), or on the module names given, each of which must match
(:func:`~bizmodel.finetune.architectures.check_targets`). AdaLoRA needs the total number of
steps in its config and a rank update after each optimiser step (:func:`after_step`).

Examples
--------
>>> sorted(METHODS)
['adalora', 'frozen', 'full', 'ia3', 'lora']
>>> METHODS["lora"].default_lr
0.0005
>>> METHODS["full"].default_pooling, METHODS["lora"].default_pooling
('pooler', 'mean')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bizmodel.errors import ConfigError


@dataclass(frozen=True)
class MethodOptions:
    """Knobs the PEFT configs read; defaults suit MiniLM-sized encoders."""

    r: int = 16  # adapter rank (LoRA) / initial rank (AdaLoRA)
    alpha: int = 32  # LoRA scaling numerator: update = (alpha / r) · B A
    dropout: float = 0.1  # dropout on the adapter input
    # module name suffixes that get adapters; None = every linear layer of the model's
    # transformer blocks (on BERT: query, key, value, intermediate.dense, output.dense)
    targets: tuple[str, ...] | None = None
    total_steps: int = 1000  # optimiser steps of the run (AdaLoRA's schedule needs it)


@dataclass(frozen=True)
class Method:
    """One way of fine-tuning: which weights train, and the PEFT config if any."""

    name: str
    default_lr: float  # learning rate when the user gives none
    train_encoder: bool = True  # False: encoder frozen (and run in eval mode), head only
    # The head when the user gives none: "mean" pooling over standardised targets suits
    # adapters and frozen encoders (MiniLM's embeddings are mean-pooled); full fine-tuning
    # trains the [CLS] pooler, and on raw targets it scored higher (docs/benchmarks.md).
    default_pooling: str = "mean"
    default_target_scaling: str = "standard"
    # The members' learning rate in a model soup (soup > 1) when the user gives none: a
    # soup gains from members that disagree, and faster-moving runs disagree more while
    # still averaging well (docs/benchmarks.md, "model soups"). None: default_lr.
    soup_lr: float | None = None
    peft_config: Callable[[MethodOptions], Any] | None = field(default=None, repr=False)
    # PEFT: when no targets are given, find them in the model (False: the config chooses)
    finds_targets: bool = True

    @property
    def is_peft(self) -> bool:
        return self.peft_config is not None


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (replacing one of the same name) and return it."""
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``; unknown → ConfigError listing the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}") from None


def _lora(o: MethodOptions) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=o.r,
        lora_alpha=o.alpha,
        lora_dropout=o.dropout,
        target_modules=list(o.targets) if o.targets is not None else None,
    )


def _adalora(o: MethodOptions) -> Any:
    from peft import AdaLoraConfig

    # Ranks start at r and are pruned to r/2 on average between 10% and 70% of training.
    t = max(o.total_steps, 10)
    return AdaLoraConfig(
        init_r=o.r,
        target_r=max(1, o.r // 2),
        tinit=int(0.1 * t),
        tfinal=int(0.3 * t),
        deltaT=max(1, t // 50),
        total_step=t,
        lora_alpha=o.alpha,
        lora_dropout=o.dropout,
        target_modules=list(o.targets) if o.targets is not None else None,
    )


def _ia3(o: MethodOptions) -> Any:
    from peft import IA3Config

    # peft's per-architecture choice (BERT: key, value, output.dense) when no targets given;
    # with targets, the feed-forward ones are those that are not attention projections.
    if o.targets is None:
        return IA3Config()
    ff = [t for t in o.targets if not any(a in t for a in ("attn", "attention"))]
    return IA3Config(target_modules=list(o.targets), feedforward_modules=ff)


# Full fine-tuning: BERT's classifier head (dense + tanh over [CLS], raw targets). Against
# mean pooling over z-scores, 3 seeds each on SemEval-2017: dev +0.007 / +0.009 and test
# +0.009 / +0.015 (headlines / microblogs); docs/benchmarks.md, "Full fine-tuning head".
register_method(
    Method(
        "full",
        default_lr=5e-5,
        default_pooling="pooler",
        default_target_scaling="none",
        # K = 3 soups at 5e-5 / 1e-4 / 2e-4: headlines 0.763 / 0.773 / 0.777, microblogs
        # - / 0.813 / 0.805 (single runs 0.809): 1e-4 is the rate that helps on both
        soup_lr=1e-4,
    )
)
register_method(Method("frozen", default_lr=1e-3, train_encoder=False))
register_method(Method("lora", default_lr=5e-4, peft_config=_lora))
register_method(Method("adalora", default_lr=1e-3, peft_config=_adalora))
register_method(Method("ia3", default_lr=3e-3, peft_config=_ia3, finds_targets=False))


def apply_method(encoder: Any, method: Method, options: MethodOptions) -> Any:
    """Prepare ``encoder`` for ``method``: wrap it with PEFT, freeze it, or leave it as is.

    PEFT methods get their target modules from ``options.targets`` (each must match a linear
    layer) or, when None, from the model (:func:`~bizmodel.finetune.architectures.
    adapter_targets`); no match → ConfigError, never a partial or empty adapter.
    """
    if method.is_peft:
        import dataclasses

        from peft import get_peft_model

        from bizmodel.finetune.architectures import adapter_targets, check_targets

        assert method.peft_config is not None
        if options.targets is not None:
            check_targets(encoder, options.targets)
        elif method.finds_targets:
            options = dataclasses.replace(options, targets=adapter_targets(encoder))
        try:
            return get_peft_model(encoder, method.peft_config(options))
        except ValueError as exc:  # e.g. peft has no default targets for this model type
            kind = getattr(encoder.config, "model_type", "?")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"method {method.name!r} cannot adapt this {kind} model: {first}; valid: "
                "give lora_targets (module names of its linear layers)"
            ) from exc
    if not method.train_encoder:
        for p in encoder.parameters():
            p.requires_grad_(False)
    return encoder


def after_step(encoder: Any, global_step: int) -> None:
    """Per-step hook after ``optimizer.step()``: AdaLoRA's rank budget update."""
    inner = getattr(encoder, "base_model", None)
    update = getattr(inner, "update_and_allocate", None)
    if update is not None:
        update(global_step)
