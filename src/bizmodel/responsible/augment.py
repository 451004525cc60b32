"""Data augmentation: perturbed copies of training rows (``bizmodel train --augment N``).

Each row gets ``n`` copies; copy ``j`` of row ``i`` uses perturbation ``kinds[(i + j) %
len(kinds)]`` seeded by ``(seed, kind, i * n + j)``, applied to all ``text_cols`` of the row
together (a swapped company name is swapped in the headline too). Copies whose texts did not
change (no entity or synonym to swap) are dropped, so the result may have fewer than
``len(df) * (n + 1)`` rows. The original rows come first, in order; copies keep their
source row's index, so data errors still name the file's row.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"t": ["Shares rise", "Profit falls"], "y": [1.0, -1.0]})
>>> out = augment_rows(df, ["t"], n=2, seed=0)
>>> len(out), out["y"].tolist()
(5, [1.0, -1.0, 1.0, 1.0, -1.0])
>>> out.equals(augment_rows(df, ["t"], n=2, seed=0))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bizmodel.errors import ConfigError
from bizmodel.finetune.data import check_columns
from bizmodel.responsible.perturb import PERTURBATIONS, check_kinds, perturb_row

if TYPE_CHECKING:
    import pandas as pd


def augment_rows(
    df: pd.DataFrame,
    text_cols: Sequence[str],
    n: int,
    seed: int = 0,
    *,
    kinds: Sequence[str] = tuple(PERTURBATIONS),
    entities: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``df`` followed by up to ``n`` perturbed copies of each row (see the module doc).

    Parameters
    ----------
    df : pandas.DataFrame
        Training rows.
    text_cols : sequence of str
        Columns perturbed together (e.g. ``["company", "headline"]``).
    n : int
        Copies per row; 0 returns ``df`` unchanged.
    seed : int
        Same seed, same copies.
    kinds : sequence of str
        Perturbations to cycle through.
    entities : sequence of str, optional
        Names for entity swaps (default: shipped names, plus the first column's values
        when there are two text columns).
    """
    import pandas as pd

    from bizmodel.responsible.robustness import default_entities

    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"augment must be an integer >= 0 (copies per row), got {n!r}")
    if n == 0:
        return df
    kinds = check_kinds(kinds)
    cols = [c for c in text_cols if c]
    check_columns(df, list(cols), "<DataFrame>")
    if entities is None:
        entities = default_entities(df[cols[0]].astype(str).tolist() if len(cols) > 1 else ())
    values = [df[c].astype(str).tolist() for c in cols]
    picks: list[int] = []
    new_texts: list[tuple[str, ...]] = []
    for i in range(len(df)):
        row = tuple(v[i] for v in values)
        for j in range(n):
            kind = kinds[(i + j) % len(kinds)]
            new = perturb_row(row, kind, seed=seed, row=i * n + j, entities=entities)
            if new != row:
                picks.append(i)
                new_texts.append(new)
    copies = df.iloc[picks].copy()
    for k, c in enumerate(cols):
        copies[c] = [t[k] for t in new_texts]
    return pd.concat([df, copies])
