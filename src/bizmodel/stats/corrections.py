"""Multiple-comparison corrections for several arms against one control.

* Holm (1979), step-down, controls the family-wise error rate: sort ``p₍₁₎ ≤ … ≤ p₍ₘ₎``,
  ``p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎)``.
* Benjamini–Hochberg (1995), step-up, controls the false discovery rate:
  ``p̃₍ᵢ₎ = min_{j ≥ i} min(1, m p₍ⱼ₎ / j)``.

Both agree with ``statsmodels.stats.multitest.multipletests`` (methods ``holm``, ``fdr_bh``).
NaN p-values are passed through and not counted in ``m``.

Examples
--------
>>> [round(p, 6) for p in holm([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
>>> [round(p, 6) for p in benjamini_hochberg([0.01, 0.04, 0.03])]
[0.03, 0.04, 0.04]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bizmodel.errors import ConfigError

__all__ = ["CORRECTIONS", "adjust_p_values", "benjamini_hochberg", "holm"]

CORRECTIONS = ("holm", "bh", "none")


def _valid(p_values: Sequence[float]) -> list[int]:
    return [i for i, p in enumerate(p_values) if not math.isnan(p)]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    out = [float(p) for p in p_values]
    idx = sorted(_valid(p_values), key=lambda i: p_values[i])
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjusted p-values, in the input order."""
    out = [float(p) for p in p_values]
    idx = sorted(_valid(p_values), key=lambda i: p_values[i])
    m, running = len(idx), 1.0
    for rank in range(m - 1, -1, -1):
        i = idx[rank]
        running = min(running, min(1.0, m * p_values[i] / (rank + 1)))
        out[i] = running
    return out


def adjust_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """Adjust with ``method`` in ``holm``, ``bh`` or ``none``."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return [float(p) for p in p_values]
    raise ConfigError(f"correction must be one of {', '.join(CORRECTIONS)}; got {method!r}")
