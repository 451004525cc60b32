"""Tokenizing once, length-bucketed batches and dynamic padding.

Texts are tokenized once, without padding. Each epoch the rows are shuffled (seeded by
``(seed, epoch)`` so a resumed run sees the same order), cut into pools of ``pool`` batches,
sorted by length inside each pool, split into batches and the batches shuffled: every batch
holds rows of similar length and is padded only to its own longest row. On short financial
headlines that removes most of the padding a random batch carries.

Examples
--------
>>> import numpy as np
>>> batches = bucket_batches(np.array([5, 1, 4, 2, 3, 6]), batch_size=2, seed=0, epoch=0)
>>> sorted(sorted(b.tolist()) for b in batches)
[[0, 5], [1, 3], [2, 4]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """Token ids of every row, unpadded."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None  # only for text pairs
    lengths: np.ndarray  # (N,) tokens per row


def tokenize(tokenizer: Any, texts: list[str], pairs: list[str] | None, max_length: int) -> Encoded:
    """Tokenize ``texts`` (and ``pairs``) once, truncated to ``max_length``, unpadded."""
    enc = tokenizer(
        texts,
        pairs,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=pairs is not None,
    )
    ids = enc["input_ids"]
    types = enc["token_type_ids"] if pairs is not None else None
    return Encoded(ids, types, np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))


def bucket_batches(
    lengths: np.ndarray, batch_size: int, *, seed: int, epoch: int, pool: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of row indices, each of rows with similar lengths.

    Deterministic in ``(seed, epoch)``; ``pool`` batches are length-sorted together, so a
    larger pool means less padding and less randomness in batch composition.
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    chunk = batch_size * pool
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), chunk):
        idx = perm[start : start + chunk]
        idx = idx[np.argsort(lengths[idx], kind="stable")]
        batches.extend(idx[i : i + batch_size] for i in range(0, len(idx), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches for inference: rows sorted by length (longest first), in order."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(enc: Encoded, idx: np.ndarray, pad_id: int) -> dict[str, Any]:
    """Pad rows ``idx`` to their longest: ``input_ids``, ``attention_mask`` [, token types]."""
    import torch

    width = int(enc.lengths[idx].max())
    ids = np.full((len(idx), width), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    types = np.zeros((len(idx), width), dtype=np.int64) if enc.token_type_ids else None
    for row, i in enumerate(idx):
        n = int(enc.lengths[i])
        ids[row, :n] = enc.input_ids[i]
        mask[row, :n] = 1
        if types is not None and enc.token_type_ids is not None:
            types[row, :n] = enc.token_type_ids[i]
    out: dict[str, Any] = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
    }
    out["token_type_ids"] = torch.from_numpy(types) if types is not None else None
    return out
