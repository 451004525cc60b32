"""Optimiser pieces of the training loop: AdamW parameter groups (weight decay, layer-wise lr
decay), the warm-up/decay schedule, weight averaging (EMA) and checkpointable state."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch


def layer_index(name: str, n_layers: int) -> int:
    """Depth of a parameter: 0 = embeddings, i + 1 = encoder layer i, n_layers + 1 = above."""
    m = re.search(r"\.layer\.(\d+)\.", name)
    if m:
        return int(m.group(1)) + 1
    return 0 if "embeddings" in name else n_layers + 1


def param_groups(
    model: torch.nn.Module, weight_decay: float, layer_decay: float = 1.0
) -> list[dict[str, Any]]:
    """AdamW groups: no decay on biases/LayerNorm; with ``layer_decay`` < 1 each encoder
    layer's lr is scaled by ``layer_decay ** (layers above it)`` (head and pooler: 1)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    depths = [int(m.group(1)) for n in names if (m := re.search(r"\.layer\.(\d+)\.", n))]
    n_layers = max(depths) + 1 if depths else 0
    groups: dict[tuple[bool, int], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            no_decay = p.ndim < 2 or "LayerNorm" in name
            depth = layer_index(name, n_layers) if layer_decay < 1 else n_layers + 1
            groups.setdefault((no_decay, depth), []).append(p)
    return [
        {
            "params": params,
            "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": layer_decay ** (n_layers + 1 - depth),
        }
        for (no_decay, depth), params in sorted(groups.items(), key=lambda kv: kv[0])
    ]


class Ema:
    """Exponential moving average of the trainable weights (evaluated and kept when on)."""

    def __init__(self, params: list[torch.nn.Parameter], decay: float) -> None:
        self.params, self.decay = params, decay
        self.shadow = [p.detach().clone() for p in params]
        self.backup: list[torch.Tensor] | None = None

    def update(self, step: int) -> None:
        # warm-up of the decay (as in TF's ExponentialMovingAverage with num_updates)
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - d)

    def swap_in(self) -> None:
        self.backup = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)

    def swap_out(self) -> None:
        assert self.backup is not None
        with torch.no_grad():
            for p, b in zip(self.params, self.backup, strict=True):
                p.copy_(b)
        self.backup = None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable parameters and all buffers: what a checkpoint must restore."""
    state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    state.update({n: b.detach().clone() for n, b in model.named_buffers()})
    return state


def lr_lambda(warmup: int, total: int, scale: float = 1.0) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return scale * (step + 1) / warmup
        return scale * max(0.0, (total - step) / max(1, total - warmup))

    return f
