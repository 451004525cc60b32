"""Data-parallel training hook: shard each epoch's batches, average gradients and metrics.

:func:`bizmodel.finetune.training.train_model` takes a :class:`DataParallel` when it runs in
one of several processes of a ``torch.distributed`` process group (Ray Train starts them with
the gloo backend on CPU). Every rank builds the same model from the same seed, takes every
``world_size``-th batch of the epoch's (seeded, identical) batch list, and after each backward
pass the gradients are averaged over ranks, so all ranks take the same optimiser step: the run
is plain SGD on batches ``world_size`` times larger (the effective batch size).

Examples
--------
>>> import numpy as np
>>> dp = DataParallel(rank=1, world_size=2)
>>> [b.tolist() for b in dp.shard([np.array([0]), np.array([1]), np.array([2])])]
[[1], [0]]
>>> dp.steps(3)
2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run.

    Parameters
    ----------
    rank : int
        This process's rank, ``0 <= rank < world_size``; rank 0 writes the model dir.
    world_size : int
        Number of processes training together.
    """

    rank: int
    world_size: int

    def steps(self, n_batches: int) -> int:
        """Optimiser steps per epoch for ``n_batches`` batches: ``ceil(n_batches / world)``."""
        return math.ceil(n_batches / self.world_size)

    def shard(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """This rank's batches: every ``world_size``-th one, starting at ``rank``.

        The list is first padded by wrapping around to a multiple of ``world_size`` (like
        ``torch.utils.data.DistributedSampler``), so every rank takes :meth:`steps` steps and
        no collective operation waits for a rank that has finished.
        """
        n = self.steps(len(batches)) * self.world_size
        padded = [batches[i % len(batches)] for i in range(n)]
        return padded[self.rank :: self.world_size]

    def average_gradients(self, params: Sequence[Any]) -> None:
        """Replace each parameter's ``.grad`` by its mean over ranks (one flat all-reduce)."""
        import torch
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads or self.world_size == 1:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def sum(self, *values: float) -> list[float]:
        """Each of ``values`` summed over ranks (e.g. loss sums and row counts)."""
        import torch
        import torch.distributed as dist

        if self.world_size == 1:
            return [float(v) for v in values]
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t]
