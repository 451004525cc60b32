"""Learner histories → mastery per skill → next items in the zone of proximal development.

The zone of proximal development (ZPD) is taken as the items whose expected success
probability ``P(correct) = P(L)(1 − s) + (1 − P(L)) g`` lies in a band ``[low, high]``
(default [0.6, 0.85]): not so easy that nothing is learned, not so hard that the learner
fails. Among in-band items the lowest success probability (most left to learn) comes first,
ties in curriculum order; when fewer than
``n`` items are in the band, the rest are the items closest *below* it (still something to
learn), then those above it, flagged ``in_band=False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.errors import ConfigError, DataError
from bizmodel.templates.education.bkt import BKTParams, trace

HISTORY_COLUMNS = ("skill", "correct")  # required; item_id optional
DEFAULT_BAND = (0.6, 0.85)
_TRUE = {"1", "true", "yes", "correct", "right"}
_FALSE = {"0", "false", "no", "wrong", "incorrect"}


def check_band(band: Sequence[float]) -> tuple[float, float]:
    """Validate a success-probability band ``[low, high]`` with ``0 ≤ low < high ≤ 1``.

    Examples
    --------
    >>> check_band([0.6, 0.85])
    (0.6, 0.85)
    """
    vals = list(band)
    if (
        len(vals) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals)
        or not 0 <= vals[0] < vals[1] <= 1
    ):
        raise ConfigError(f"band must be [low, high] with 0 <= low < high <= 1, got {band!r}")
    return float(vals[0]), float(vals[1])


def _correct_value(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return int(value.strip().lower() in _TRUE)
    raise DataError(f"{where}, field 'correct': expected 0/1 or true/false, got {value!r}")


def validate_history(
    rows: Sequence[Mapping[str, Any]], skills: Sequence[str], *, file: str | None = None
) -> pd.DataFrame:
    """Check a learner's history (oldest first) and return it as ``skill, item_id, correct``.

    Every problem is a :class:`DataError` naming the row (1-based) and field, what was received
    and what is valid.

    Examples
    --------
    >>> validate_history([{"skill": "addition", "correct": True}], ["addition"]).to_dict("records")
    [{'skill': 'addition', 'item_id': None, 'correct': 1}]
    >>> validate_history([{"skill": "poetry", "correct": 1}], ["addition"])
    Traceback (most recent call last):
    ...
    bizmodel.errors.DataError: history row 1, field 'skill': unknown skill 'poetry'; valid: addition
    """
    out = []
    known = set(skills)
    for i, row in enumerate(rows, start=1):
        where = f"history row {i}"
        if not isinstance(row, Mapping):
            raise DataError(f"{where}: expected an object with skill and correct, got {row!r}")
        for col in HISTORY_COLUMNS:
            if (
                col not in row
                or row[col] is None
                or (isinstance(row[col], float) and np.isnan(row[col]))
            ):
                raise DataError(f"{where}: field {col!r} is missing", file=file)
        skill = row["skill"]
        if not isinstance(skill, str) or skill not in known:
            raise DataError(
                f"{where}, field 'skill': unknown skill {skill!r}; valid: " + ", ".join(skills),
                file=file,
            )
        try:
            correct = _correct_value(row["correct"], where)
        except DataError as exc:
            raise DataError(exc.message, file=file) from None
        item = row.get("item_id")
        out.append((skill, None if item is None else str(item), correct))
    return pd.DataFrame(out, columns=["skill", "item_id", "correct"])


def mastery(history: pd.DataFrame, params: Mapping[str, BKTParams]) -> dict[str, float]:
    """``P(L)`` per skill after the history (a skill never practised keeps its prior).

    Examples
    --------
    >>> p = {"addition": BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1)}
    >>> h = pd.DataFrame({"skill": ["addition"], "correct": [1]})
    >>> round(mastery(h, p)["addition"], 6)
    0.685393
    """
    out = {}
    for skill, p in params.items():
        answers = history.loc[history["skill"] == skill, "correct"].tolist()
        out[skill] = float(trace(answers, p)[1][-1])
    return out


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its expected success probability."""

    item_id: str
    skill: str
    p_correct: float
    in_band: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "item_id": self.item_id,
            "skill": self.skill,
            "p_correct": self.p_correct,
            "in_band": self.in_band,
        }


def recommend(
    p_known: Mapping[str, float],
    params: Mapping[str, BKTParams],
    items: pd.DataFrame,
    *,
    band: Sequence[float] = DEFAULT_BAND,
    n: int = 3,
    done: Sequence[str] = (),
) -> list[Recommendation]:
    """The next ``n`` items: in-band first (lowest success probability, i.e. most left to learn,
    then curriculum order), then the closest below the band, then above.

    ``items`` has ``item_id, skill`` in curriculum order; items in ``done`` are skipped.

    Examples
    --------
    >>> params = {s: BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1) for s in "ab"}
    >>> items = pd.DataFrame({"item_id": ["a1", "a2", "b1"], "skill": ["a", "a", "b"]})
    >>> recs = recommend({"a": 0.9, "b": 0.6}, params, items, n=2)
    >>> [(r.item_id, round(r.p_correct, 3), r.in_band) for r in recs]
    [('b1', 0.64, True), ('a1', 0.835, True)]
    """
    low, high = check_band(band)
    if not (isinstance(n, int) and 1 <= n <= 100):
        raise ConfigError(f"n must be an integer in [1, 100], got {n!r}")
    seen = set(done)
    order = {s: i for i, s in enumerate(dict.fromkeys(items["skill"]))}
    cands = []
    for item_id, skill in zip(items["item_id"], items["skill"], strict=True):
        if item_id in seen or skill not in params:
            continue
        pc = params[skill].p_correct(p_known.get(skill, params[skill].prior))
        in_band = low <= pc <= high
        distance = 0.0 if in_band else (low - pc if pc < low else 1.0 + pc - high)
        # in band: lower success first (more left to learn); ties by curriculum order
        key = (not in_band, distance, pc if in_band else 0.0, order[skill])
        cands.append((key, Recommendation(str(item_id), str(skill), float(pc), in_band)))
    cands.sort(key=lambda c: c[0])
    return [rec for _, rec in cands[:n]]


def zpd_policy(band: Sequence[float] = DEFAULT_BAND) -> Any:
    """A simulation policy: per learner the in-band skill with the lowest success probability,
    else the skill closest below the band, else the one closest above (ties: earliest in the
    curriculum).

    Examples
    --------
    >>> zpd_policy()(np.array([[0.9, 0.7, 0.3], [0.9, 0.9, 0.5]]), None).tolist()
    [1, 2]
    """
    low, high = check_band(band)

    def choose(p_correct: np.ndarray, rng: Any) -> np.ndarray:
        inside = (p_correct >= low) & (p_correct <= high)
        below = np.where(p_correct < low, low - p_correct, 1.0 + p_correct - high)
        score = np.where(inside, p_correct - 2.0, below)  # in band wins, then below, then above
        return np.asarray(np.argmin(score, axis=1))

    return choose


def random_policy(p_correct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A simulation policy: a uniformly random skill per learner."""
    return np.asarray(rng.integers(0, p_correct.shape[1], p_correct.shape[0]))


def easiest_policy(p_correct: np.ndarray, rng: Any) -> np.ndarray:
    """A simulation policy: the skill with the highest expected success (easiest first)."""
    return np.asarray(np.argmax(p_correct, axis=1))


__all__ = [
    "DEFAULT_BAND",
    "Recommendation",
    "check_band",
    "easiest_policy",
    "mastery",
    "random_policy",
    "recommend",
    "validate_history",
    "zpd_policy",
]
