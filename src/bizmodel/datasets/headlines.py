"""Synthetic financial headlines with a known sentiment score, for the demo and tests.

Each row pairs a made-up company with a headline built from an event template whose
sentiment in [-1, 1] is fixed (``"{c} beats quarterly earnings forecasts"``: +0.7), an
optional intensifier that scales it, and Gaussian noise. The generator is seeded, so the
same arguments always give the same rows. Nothing here comes from a real data set.

Examples
--------
>>> df = financial_headlines(5, seed=1)
>>> list(df.columns)
['company', 'headline', 'sentiment', 'split']
>>> df.equals(financial_headlines(5, seed=1))
True
>>> bool(df["sentiment"].between(-1, 1).all())
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COMPANIES = (
    "Acme Corp",
    "Borealis Energy",
    "Cobalt Mining",
    "Delta Freight",
    "Evergreen Foods",
    "Fulcrum Bank",
    "Granite Insurance",
    "Helix Pharma",
    "Ionic Semiconductors",
    "Juniper Retail",
    "Keystone Motors",
    "Lumen Telecom",
    "Meridian Airlines",
    "Northwind Software",
    "Orchid Biotech",
    "Pinnacle Steel",
    "Quasar Media",
    "Redwood Realty",
    "Summit Chemicals",
    "Titan Shipping",
)

# (template, sentiment): {c} is the company.
EVENTS = (
    ("{c} beats quarterly earnings forecasts", 0.7),
    ("{c} raises full-year guidance", 0.65),
    ("{c} announces record revenue", 0.75),
    ("{c} shares jump after upbeat outlook", 0.6),
    ("{c} wins multi-year government contract", 0.55),
    ("{c} unveils share buyback programme", 0.45),
    ("{c} raises dividend", 0.4),
    ("analysts upgrade {c} to buy", 0.5),
    ("{c} completes acquisition of rival", 0.3),
    ("{c} opens new plant", 0.25),
    ("{c} names new chief financial officer", 0.0),
    ("{c} to report results next week", 0.0),
    ("{c} holds annual shareholder meeting", 0.05),
    ("{c} shares flat in quiet trading", -0.05),
    ("{c} delays product launch", -0.35),
    ("{c} cuts jobs to reduce costs", -0.4),
    ("{c} misses revenue estimates", -0.55),
    ("{c} lowers profit forecast", -0.6),
    ("analysts downgrade {c} to sell", -0.5),
    ("{c} faces regulatory investigation", -0.6),
    ("{c} shares slump after profit warning", -0.75),
    ("{c} reports surprise quarterly loss", -0.7),
    ("{c} hit by accounting scandal", -0.85),
    ("{c} files for bankruptcy protection", -0.95),
)

# (prefix, factor): scales the event's sentiment.
INTENSIFIERS = (("", 1.0), ("Update: ", 1.0), ("Breaking: ", 1.2), ("Reportedly, ", 0.7))


def financial_headlines(
    n: int = 400, *, seed: int = 0, noise: float = 0.08, test_fraction: float = 0.2
) -> pd.DataFrame:
    """``n`` rows of (company, headline, sentiment, split) with a known sentiment.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        Seed of the generator.
    noise : float
        Standard deviation of the Gaussian noise added to each score (then clipped to [-1, 1]).
    test_fraction : float
        Share of rows whose ``split`` is ``"test"``; 10% are ``"dev"``, the rest ``"train"``.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    companies = rng.integers(len(COMPANIES), size=n)
    events = rng.integers(len(EVENTS), size=n)
    intens = rng.integers(len(INTENSIFIERS), size=n)
    rows = []
    for c, e, k in zip(companies, events, intens, strict=True):
        template, score = EVENTS[e]
        prefix, factor = INTENSIFIERS[k]
        name = COMPANIES[c]
        value = float(np.clip(score * factor + rng.normal(0.0, noise), -1.0, 1.0))
        rows.append((name, prefix + template.format(c=name), round(value, 3)))
    u = rng.random(n)
    split = np.where(u < test_fraction, "test", np.where(u < test_fraction + 0.1, "dev", "train"))
    df = pd.DataFrame(rows, columns=["company", "headline", "sentiment"])
    df["split"] = split
    return df
