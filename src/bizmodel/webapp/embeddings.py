"""Sentence embeddings for the Monitoring page's embedding drift.

:func:`sentence_embedder` returns ``embed(texts) -> (n, d)``: mean-pooled hidden states of a
pre-trained encoder (by default the packaged all-MiniLM-L6-v2, which was trained for exactly
this pooling), loaded on first use and cached per distinct text, so a page reloaded over the
same period embeds nothing again. :func:`bizmodel.monitor.snapshot.run_monitor` takes it as
``embed=`` and adds the embedding's drift (a seeded random projection, see
:func:`bizmodel.monitor.drift.embedding_drift`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["sentence_embedder"]


def sentence_embedder(
    name: str = "packaged",
    *,
    max_length: int = 64,
    batch_size: int = 64,
    max_cached: int = 50_000,
) -> Callable[[Sequence[str]], Any]:
    """``embed(texts)``: one mean-pooled embedding row per text, ``(n, hidden)`` float32.

    Parameters
    ----------
    name : str
        Encoder: ``"packaged"`` (all-MiniLM-L6-v2, shipped with bizmodel) or a local folder.
    max_length : int
        Tokens per text kept (headlines and queries fit in 64).
    batch_size : int
        Texts per forward pass.
    max_cached : int
        Distinct texts whose embeddings are kept between calls.

    The mean over tokens is ``Σ_t m_t h_t / Σ_t m_t`` with ``m`` the attention mask
    (padding excluded).
    """
    lock = threading.Lock()  # pages are served from a thread pool
    cache: dict[str, np.ndarray] = {}
    loaded: dict[str, Any] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        import torch

        from bizmodel.pretrained import load_encoder, load_tokenizer

        with lock:
            if not loaded:
                loaded["tokenizer"] = load_tokenizer(name)
                loaded["encoder"] = load_encoder(name).eval()
            todo = [t for t in dict.fromkeys(texts) if t not in cache]
            if len(cache) + len(todo) > max_cached:
                cache.clear()
                todo = list(dict.fromkeys(texts))
            for i in range(0, len(todo), batch_size):
                batch = todo[i : i + batch_size]
                enc = loaded["tokenizer"](
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                with torch.inference_mode():
                    hidden = loaded["encoder"](**enc).last_hidden_state  # (B, T, H)
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
                for text, row in zip(batch, pooled.float().numpy(), strict=True):
                    cache[text] = row
            return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 1))

    return embed
