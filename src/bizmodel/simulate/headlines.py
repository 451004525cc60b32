"""Synthetic financial headlines for the market simulator's model requests.

A seeded template generator: ``{company} {event}[ {context}]``, where each event phrase
carries a sentiment in [-1, 1] that serves as the *true* label of the headline. It exists so
the simulator and the demo need no data set; it is not training data (real headlines for
fine-tuning live in :mod:`bizmodel.datasets`).

Examples
--------
>>> import numpy as np
>>> texts, sentiment = synthetic_headlines(2, np.random.default_rng(0))
>>> len(texts), sentiment.shape
(2, (2,))
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

COMPANIES = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Holdings",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Imports",
    "Soylent Foods",
    "Tyrell Systems",
    "Cyberdyne",
    "Aperture Labs",
    "Massive Dynamic",
    "Oscorp",
    "Wonka Confectionery",
    "Monarch Solutions",
    "Pied Piper",
    "Blue Sun Energy",
    "Gringotts Bank",
    "Nakatomi Trading",
    "Zorin Mining",
    "Duff Beverages",
    "Prestige Worldwide",
    "Sterling Cooper",
    "Dunder Mifflin",
    "Bluth Company",
    "Kramerica",
    "Octan Oil",
    "Yoyodyne Aerospace",
    "Weyland Logistics",
)

# (event phrase, sentiment toward the company in [-1, 1])
EVENTS = (
    ("beats quarterly earnings estimates", 0.7),
    ("raises full-year guidance", 0.8),
    ("announces share buyback", 0.5),
    ("wins major government contract", 0.6),
    ("shares jump on takeover bid", 0.7),
    ("reports record revenue", 0.8),
    ("upgraded to buy by analysts", 0.6),
    ("expands into Asian markets", 0.3),
    ("names new chief executive", 0.1),
    ("holds annual shareholder meeting", 0.0),
    ("keeps dividend unchanged", 0.0),
    ("misses revenue forecast", -0.6),
    ("cuts profit outlook", -0.7),
    ("shares slide after weak sales", -0.6),
    ("faces regulatory probe", -0.5),
    ("downgraded to sell", -0.6),
    ("announces layoffs", -0.4),
    ("recalls products over safety concerns", -0.7),
    ("hit by cyber attack", -0.5),
    ("warns of supply chain disruption", -0.4),
)

# optional trailing context; the "long" style of headlines always has one (used to simulate
# input drift in text length)
CONTEXTS = (
    "as markets rally",
    "amid sector-wide selloff",
    "ahead of earnings season",
    "despite higher interest rates",
    "after analyst day presentation",
    "while competitors struggle with rising input costs across Europe",
    "in a filing with the securities regulator late on Tuesday",
)


def synthetic_headlines(
    n: int, rng: np.random.Generator, *, long_share: float = 0.0
) -> tuple[list[str], NDArray[np.float64]]:
    """``n`` headlines and their true sentiments.

    Parameters
    ----------
    n : int
        Number of headlines.
    rng : numpy Generator
        Source of randomness (the caller seeds it).
    long_share : float
        Share of headlines in the long style (always with a context clause; otherwise 30%
        get one). Raising it over time shifts the text-length distribution.

    Examples
    --------
    >>> texts, s = synthetic_headlines(3, np.random.default_rng(1), long_share=1.0)
    >>> all(len(t.split()) >= 5 for t in texts)
    True
    """
    company = rng.integers(len(COMPANIES), size=n)
    event = rng.integers(len(EVENTS), size=n)
    with_context = rng.random(n) < np.where(rng.random(n) < long_share, 1.0, 0.3)
    context = rng.integers(len(CONTEXTS), size=n)
    texts = [
        f"{COMPANIES[c]} {EVENTS[e][0]} {CONTEXTS[k]}" if w else f"{COMPANIES[c]} {EVENTS[e][0]}"
        for c, e, k, w in zip(company, event, context, with_context, strict=True)
    ]
    sentiment = np.array([s for _, s in EVENTS])[event]
    return texts, sentiment
