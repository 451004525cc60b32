"""Learner-history tables: reading and checking them, BKT per skill over them, and the text
rendering the fine-tuned model reads (recent history → next-answer correctness)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import DataError
from bizmodel.templates.education.bkt import BKTParams, EMResult, fit_em, trace
from bizmodel.templates.education.recommend import validate_history

COLUMNS = ("learner_id", "step", "skill", "item_id", "correct")


def read_history(path: str | Path, skills: Sequence[str]) -> pd.DataFrame:
    """Read a history CSV (``learner_id, step, skill, item_id, correct``) and check every row.

    Errors name the file, row (1-based, data rows) and field.

    Examples
    --------
    >>> import io
    >>> read_history(io.StringIO("learner_id,step,skill,item_id,correct\\nA,0,x,x-1,1\\n"), ["x"])
    ... # doctest: +NORMALIZE_WHITESPACE
      learner_id  step skill item_id  correct
    0          A     0     x     x-1        1
    """
    name = getattr(path, "name", str(path))
    df = pd.read_csv(path, dtype={"learner_id": str, "item_id": str, "skill": str})
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; a history needs {', '.join(COLUMNS)}", file=name
        )
    steps = pd.to_numeric(df["step"], errors="coerce")
    bad = steps.isna() | (steps < 0) | (steps != steps.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"history row {i + 1}, field 'step': expected an integer >= 0, got "
            f"{df['step'].iloc[i]!r}",
            file=name,
        )
    if df["learner_id"].isna().any():
        i = int(np.flatnonzero(df["learner_id"].isna().to_numpy())[0])
        raise DataError(f"history row {i + 1}: field 'learner_id' is missing", file=name)
    records: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
    checked = validate_history(records, skills, file=name)
    out = pd.DataFrame(
        {
            "learner_id": df["learner_id"].astype(str),
            "step": steps.astype(int),
            "skill": checked["skill"],
            "item_id": df["item_id"].fillna("").astype(str),
            "correct": checked["correct"].astype(int),
        }
    )
    return out.sort_values(["learner_id", "step"], kind="stable").reset_index(drop=True)


def fit_skills(
    history: pd.DataFrame, skills: Sequence[str], *, restarts: int = 3, seed: int = 0
) -> dict[str, EMResult]:
    """BKT parameters per skill by EM over each learner's answer sequence on that skill."""
    out = {}
    for i, skill in enumerate(skills):
        rows = history[history["skill"] == skill]
        if rows.empty:
            raise DataError(f"no attempts on skill {skill!r} in the training history")
        seqs = rows.groupby("learner_id", sort=False)["correct"].apply(list).tolist()
        out[skill] = fit_em(seqs, restarts=restarts, seed=seed + i)
    return out


def bkt_next_answer(history: pd.DataFrame, params: dict[str, BKTParams]) -> np.ndarray:
    """``P(correct)`` predicted before each row from that learner's earlier answers on its skill
    (rows in ``learner_id, step`` order; the result is aligned with ``history``'s index)."""
    out = pd.Series(np.nan, index=history.index)
    for (_, skill), rows in history.groupby(["learner_id", "skill"], sort=False):
        out.loc[rows.index] = trace(rows["correct"].tolist(), params[str(skill)])[0]
    return out.to_numpy()


def render_texts(history: pd.DataFrame, *, window: int = 8) -> list[str]:
    """One text per row: the skill asked next and the learner's history before it.

    Examples
    --------
    >>> h = pd.DataFrame({"learner_id": ["a"] * 3, "skill": ["x", "y", "x"],
    ...                   "correct": [1, 0, 1]})
    >>> render_texts(h)[2]
    'next x. on x so far 1 of 1 right. recent: x right, y wrong'
    """
    texts = []
    for _, rows in history.groupby("learner_id", sort=False):
        past: list[tuple[str, int]] = []
        for skill, correct in zip(rows["skill"], rows["correct"], strict=True):
            same = [c for s, c in past if s == skill]
            recent = ", ".join(f"{s} {'right' if c else 'wrong'}" for s, c in past[-window:])
            texts.append(
                f"next {skill}. on {skill} so far {sum(same)} of {len(same)} right. "
                f"recent: {recent or 'none'}"
            )
            past.append((str(skill), int(correct)))
    frame = pd.Series(texts, index=_grouped_index(history))
    return frame.reindex(history.index).tolist()


def _grouped_index(history: pd.DataFrame) -> pd.Index:
    """The row index in the order ``groupby("learner_id", sort=False)`` visits rows."""
    return pd.Index(np.concatenate([g.index for _, g in history.groupby("learner_id", sort=False)]))


__all__ = ["COLUMNS", "bkt_next_answer", "fit_skills", "read_history", "render_texts"]
