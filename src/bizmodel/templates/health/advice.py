"""Risk bands (configurable cut-offs) and rule-based advice text per band.

A probability ``p`` falls in band ``i`` when ``cutoffs[i-1] <= p < cutoffs[i]`` (with
``cutoffs[-1] = 0`` and ``cutoffs[K] = 1`` implied), so the band index is non-decreasing in
``p``. With the default cut-offs ``(0.15, 0.35)`` the bands are ``low``, ``moderate`` and
``high``. The advice is a band sentence plus one sentence per structured field outside its
healthy range (smoking, BMI >= 30, systolic BP >= 140, fewer than 3 active days). None of
this is medical advice: :data:`DISCLAIMER` goes with every answer.

Examples
--------
>>> band_of([0.05, 0.2, 0.9], (0.15, 0.35), ("low", "moderate", "high"))
['low', 'moderate', 'high']
>>> advice_for("high", {"smoker": 1, "bmi": 24, "systolic_bp": 120, "activity_days": 4})[:2]
['Offer a call with a care coordinator within two weeks.', 'Offer the smoking-cessation programme.']
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bizmodel.errors import ConfigError

DISCLAIMER = (
    "Not medical advice: a statistical risk estimate from a model trained on generated data, "
    "for prioritising wellness outreach. It does not diagnose or treat anything; members should "
    "talk to a qualified clinician about their health."
)
DEFAULT_CUTOFFS = (0.15, 0.35)
DEFAULT_BANDS = ("low", "moderate", "high")

#: Band sentence, by band name (bands with other names get the sentence of their rank).
BAND_ADVICE = {
    "low": "Keep up the current habits; the annual wellness check-in is enough.",
    "moderate": "Invite to the lifestyle programme and a check-in within three months.",
    "high": "Offer a call with a care coordinator within two weeks.",
}
#: (field, test, sentence): one sentence for each field outside its healthy range.
FIELD_RULES: tuple[tuple[str, Any, str], ...] = (
    ("smoker", lambda v: v >= 1, "Offer the smoking-cessation programme."),
    ("bmi", lambda v: v >= 30, "Offer the nutrition and weight programme."),
    ("systolic_bp", lambda v: v >= 140, "Suggest a blood-pressure check with their clinician."),
    ("activity_days", lambda v: v < 3, "Invite to the walking group (aim: 3+ active days)."),
)


def check_bands(cutoffs: Sequence[float], names: Sequence[str]) -> tuple[list[float], list[str]]:
    """Validate cut-offs (strictly increasing, inside (0, 1)) and one more name than cut-offs.

    Examples
    --------
    >>> check_bands([0.3, 0.2], ["a", "b", "c"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: band cut-offs must be strictly increasing ... got [0.3, 0.2]
    """
    cuts = [float(c) for c in cutoffs]
    if any(not 0 < c < 1 for c in cuts) or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise ConfigError(
            f"band cut-offs must be strictly increasing numbers in (0, 1), got {list(cutoffs)}"
        )
    if len(names) != len(cuts) + 1:
        raise ConfigError(
            f"{len(cuts)} cut-off(s) need {len(cuts) + 1} band names, got {list(names)}"
        )
    return cuts, [str(n) for n in names]


def band_index(prob: Any, cutoffs: Sequence[float]) -> np.ndarray:
    """Band index of each probability: the number of cut-offs ``<= p`` (non-decreasing in p).

    Examples
    --------
    >>> band_index([0.0, 0.15, 0.349, 0.35, 1.0], (0.15, 0.35)).tolist()
    [0, 1, 1, 2, 2]
    """
    return np.searchsorted(np.asarray(cutoffs, float), np.asarray(prob, float), side="right")


def band_of(
    prob: Any, cutoffs: Sequence[float] = DEFAULT_CUTOFFS, names: Sequence[str] = DEFAULT_BANDS
) -> list[str]:
    """Band name of each probability (see :func:`band_index`)."""
    cuts, labels = check_bands(cutoffs, names)
    return [labels[i] for i in band_index(prob, cuts)]


def advice_for(
    band: str, fields: Mapping[str, float], names: Sequence[str] = DEFAULT_BANDS
) -> list[str]:
    """Advice sentences for a member in ``band`` with structured ``fields``.

    Bands named other than low/moderate/high get the sentence of the default band at the same
    relative rank.
    """
    if band in BAND_ADVICE:
        head = BAND_ADVICE[band]
    else:
        rank = list(names).index(band) / max(len(names) - 1, 1)
        head = BAND_ADVICE[DEFAULT_BANDS[round(rank * (len(DEFAULT_BANDS) - 1))]]
    out = [head]
    for name, test, sentence in FIELD_RULES:
        if name in fields and test(float(fields[name])):
            out.append(sentence)
    return out


__all__ = [
    "BAND_ADVICE",
    "DEFAULT_BANDS",
    "DEFAULT_CUTOFFS",
    "DISCLAIMER",
    "FIELD_RULES",
    "advice_for",
    "band_index",
    "band_of",
    "check_bands",
]
