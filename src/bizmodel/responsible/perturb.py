"""Seeded text perturbations: typos, casing, entity swaps and synonym swaps. Pure Python.

Each perturbation is a function ``(texts, rng, **kw) -> texts`` over the texts of one row
(the text and, for pair models, the second text), so an entity swapped in the company column
is swapped the same way in the headline. :func:`perturb_row` seeds a fresh generator from
``(seed, kind, row)``: the result for a row does not depend on which other rows are perturbed
or in which order, and the same seed always gives the same text.

Nothing is downloaded: the keyboard layout, the company names and tickers and the synonym
list are shipped here (nlpaug's character augmenters work offline too, but draw from
Python's global random state, so they are not reproducible per row).

Examples
--------
>>> perturb_row(("Acme Corp", "Acme Corp shares rise on strong profit"), "synonym", seed=0, row=0)
('Acme Corp', 'Acme Corp stock gain on robust earnings')
>>> perturb_row(("Acme Corp",), "casing", seed=0, row=0) == perturb_row(
...     ("Acme Corp",), "casing", seed=0, row=0)
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from bizmodel.errors import ConfigError

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    pos = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in pos.items():
        near = [
            d
            for d, (r2, i2) in pos.items()
            if d != c and abs(r2 - r) <= 1 and abs(i2 + 0.5 * r2 - i - 0.5 * r) <= 1.0
        ]
        out[c] = "".join(sorted(near))
    return out


#: QWERTY neighbours of each lower-case letter (rows offset by half a key).
KEYBOARD = _keyboard_neighbours()

#: Company names and tickers entity swaps draw from (made-up and well-known, mixed).
COMPANIES = (
    "Acme Corp", "Apple", "Amazon", "Barclays", "BP", "Tesco", "Glencore", "Vodafone",
    "Unilever", "Rolls-Royce", "HSBC", "Shell", "Siemens", "Nestle", "Microsoft", "Google",
    "Netflix", "Boeing", "Pfizer", "Walmart", "Lloyds", "Aviva", "Burberry", "Diageo",
)  # fmt: skip
TICKERS = (
    "AAPL", "AMZN", "MSFT", "GOOG", "TSLA", "NFLX", "BA", "PFE", "WMT", "BARC", "TSCO",
    "GLEN", "VOD", "ULVR", "HSBA", "RDSA", "BP.L", "NVDA", "INTC", "JPM",
)  # fmt: skip

#: Word → replacements with (nearly) the same meaning in financial news.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "rise": ("climb", "gain"), "rises": ("climbs", "gains"), "rose": ("climbed", "gained"),
    "fall": ("drop", "decline"), "falls": ("drops", "declines"), "fell": ("dropped", "slid"),
    "jump": ("surge", "soar"), "jumps": ("surges", "soars"), "slump": ("plunge", "tumble"),
    "slumps": ("plunges", "tumbles"), "cut": ("reduce", "trim"), "cuts": ("reduces", "trims"),
    "raise": ("lift", "increase"), "raises": ("lifts", "increases"), "shares": ("stock",),
    "profit": ("earnings",), "profits": ("earnings",), "revenue": ("sales",),
    "sales": ("revenue",), "strong": ("robust", "solid"), "weak": ("soft", "poor"),
    "big": ("large", "major"), "buy": ("purchase", "acquire"), "sell": ("offload",),
    "warns": ("cautions",), "warning": ("alert",), "beats": ("tops", "exceeds"),
    "misses": ("falls short of",), "record": ("all-time high",), "deal": ("agreement",),
    "job": ("position",), "jobs": ("positions", "roles"), "growth": ("expansion",),
    "loss": ("deficit",), "forecast": ("outlook", "projection"), "boss": ("chief",),
    "chief executive": ("CEO",), "ceo": ("chief executive",), "company": ("firm",),
    "firm": ("company",), "up": ("higher",), "down": ("lower",), "plans": ("intends",),
}  # fmt: skip

Texts = tuple[str, ...]


def _words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"[A-Za-z]+", text)]


def typo(texts: Texts, rng: np.random.Generator, rate: float = 0.1) -> Texts:
    """Each word of 3+ letters gets, with probability ``rate`` (at least one per row), one
    keyboard typo: a letter replaced by a QWERTY neighbour, deleted, or swapped with the next.
    """
    spans = [(t, s) for t, text in enumerate(texts) for s in _words(text) if s[1] - s[0] >= 3]
    if not spans:
        return texts
    hit = rng.random(len(spans)) < rate
    if not hit.any():
        hit[rng.integers(len(spans))] = True
    out = [list(t) for t in texts]
    # Right to left, so a deletion does not shift the spans still to come.
    for (t, (a, b)), h in reversed(list(zip(spans, hit, strict=True))):
        if not h:
            continue
        i = int(rng.integers(a, b - 1))
        kind = int(rng.integers(3))
        chars = out[t]
        c = chars[i]
        near = KEYBOARD.get(c.lower(), "")
        if kind == 0 and near:
            d = near[int(rng.integers(len(near)))]
            chars[i] = d.upper() if c.isupper() else d
        elif kind == 1:
            del chars[i]
        else:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return tuple("".join(c) for c in out)


def casing(texts: Texts, rng: np.random.Generator) -> Texts:
    """The row in lower case, upper case or title case (one chosen at random)."""
    kind = int(rng.integers(3))
    fn = (str.lower, str.upper, str.title)[kind]
    return tuple(fn(t) for t in texts)


def _pattern(names: Sequence[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True) if n)
    return re.compile(rf"(?<![\w.])(?:{alts})(?![\w])")


def entity_swap(
    texts: Texts, rng: np.random.Generator, entities: Sequence[str] = COMPANIES + TICKERS
) -> Texts:
    """Every company name or ticker from ``entities`` found in the row is replaced by another
    one, the same replacement wherever it occurs in the row's texts; rows without any keep.
    """
    pool = sorted(set(entities))
    if len(pool) < 2:
        return texts
    pat = _pattern(pool)
    found = sorted({m.group(0) for t in texts for m in pat.finditer(t)})
    if not found:
        return texts
    mapping = {}
    for name in found:
        others = [e for e in pool if e != name]
        mapping[name] = others[int(rng.integers(len(others)))]
    return tuple(pat.sub(lambda m: mapping[m.group(0)], t) for t in texts)


def _match_case(word: str, new: str) -> str:
    if word.isupper() and len(word) > 1:
        return new.upper()
    if word[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


_SYN = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(SYNONYMS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)


def synonym(texts: Texts, rng: np.random.Generator, rate: float = 1.0) -> Texts:
    """Paraphrase-like: each word found in :data:`SYNONYMS` is replaced, with probability
    ``rate``, by one of its synonyms (case kept)."""

    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        if rng.random() >= rate:
            return word
        options = SYNONYMS[word.lower()]
        return _match_case(word, options[int(rng.integers(len(options)))])

    return tuple(_SYN.sub(sub, t) for t in texts)


Perturbation = Callable[..., Texts]

#: The perturbations by name, in report order.
PERTURBATIONS: dict[str, Perturbation] = {
    "typo": typo,
    "casing": casing,
    "entity": entity_swap,
    "synonym": synonym,
}


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` as a tuple; ConfigError naming an unknown one and the valid names."""
    kinds = tuple(kinds)
    if not kinds:
        raise ConfigError(f"no perturbations given; valid: {', '.join(PERTURBATIONS)}")
    for k in kinds:
        if k not in PERTURBATIONS:
            raise ConfigError(f"unknown perturbation {k!r}; valid: {', '.join(PERTURBATIONS)}")
    return kinds


def perturb_row(
    texts: Sequence[str],
    kind: str,
    *,
    seed: int,
    row: int,
    entities: Sequence[str] | None = None,
) -> Texts:
    """The row's texts under perturbation ``kind``, seeded by ``(seed, kind, row)``.

    Examples
    --------
    >>> perturb_row(("Apple", "Apple cuts jobs"), "entity", seed=1, row=3)
    ('WMT', 'WMT cuts jobs')
    """
    check_kinds([kind])
    index = list(PERTURBATIONS).index(kind)
    rng = np.random.default_rng([seed, index, row])
    fn = PERTURBATIONS[kind]
    if kind == "entity" and entities is not None:
        return fn(tuple(texts), rng, entities=entities)
    return fn(tuple(texts), rng)
