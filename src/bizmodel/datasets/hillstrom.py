"""The Hillstrom e-mail experiment as a product's event log, and its project declaration.

Kevin Hillstrom's MineThatData file (64,000 customers; ``../shared/data/hillstrom``) holds
one row per customer: the ``segment`` it was randomised to (``No E-Mail``, ``Mens E-Mail``,
``Womens E-Mail``) and what followed in two weeks (``visit`` and ``conversion`` 0/1,
``spend`` in USD). :func:`hillstrom_event_log` turns that frame (or a synthetic one with the
same four columns) into the log a product would have written, in its own column names:

- an ``exposure`` per customer, the ``i``-th of ``n`` at ``start + 14 days * i / n`` (spread
  evenly over two weeks), with its arm (:data:`ARMS`) as the variant;
- a ``visit`` one hour later where ``visit`` = 1;
- a ``purchase`` two hours later, with ``spend`` as its amount, where ``conversion`` = 1.

Every event lies within 14 days of its exposure, so ``ab-test --project --experiment email``
on the imported log equals ``ab-test`` on the flat file. :data:`PROJECT_TOML` declares the
three metrics, ``[experiments.email]`` (arms setting the levers :data:`LEVERS`, goal
``visit``) and a plan of the two e-mails on the experiment's growth fit.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"segment": ["Mens E-Mail", "No E-Mail"], "visit": [1, 0],
...                    "conversion": [1, 0], "spend": [29.99, 0.0]})
>>> log = hillstrom_event_log(df)
>>> log[["customer", "event", "amount", "arm"]].to_dict("list")
{'customer': ['c0', 'c0', 'c0', 'c1'], 'event': ['exposure', 'visit', 'purchase', 'exposure'],
 'amount': [nan, nan, 29.99, nan], 'arm': ['mens', nan, nan, 'control']}
>>> [t.isoformat() for t in log["time"]][::3]
['2008-03-03T00:00:00+00:00', '2008-03-10T00:00:00+00:00']
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ARMS", "LEVERS", "PROJECT_TOML", "START", "hillstrom_api_events", "hillstrom_event_log"]

ARMS = {"No E-Mail": "control", "Mens E-Mail": "mens", "Womens E-Mail": "womens"}  # segment
START = datetime(2008, 3, 3, tzinfo=UTC)  # the first exposure (a Monday in March 2008)
LEVERS = {  # each arm's e-mails, the levers of the plan
    "control": {"mens_email": 0.0, "womens_email": 0.0},
    "mens": {"mens_email": 1.0, "womens_email": 0.0},
    "womens": {"mens_email": 0.0, "womens_email": 1.0},
}
PROJECT_TOML = """[project]
title = "email campaign"

[metrics]
visit = { type = "any", event = "visit", within_days = 14 }
conversion = { type = "any", event = "purchase", within_days = 14 }
spend = { type = "sum", event = "purchase" }

[experiments.email]
goal = ["visit"]
[experiments.email.arms]
control = { mens_email = 0, womens_email = 0 }
mens = { mens_email = 1, womens_email = 0 }
womens = { mens_email = 0, womens_email = 1 }

[levers.mens_email]
choices = [0, 1]
[levers.womens_email]
choices = [0, 1]

[constants]
customers = 64000.0
visit_value_usd = 2.0
email_cost_usd = 0.1

[growth]
from_experiment = "email"
metric = "visit"

[quantities]
visits = "growth * customers"
profit_usd = "visits * visit_value_usd - (mens_email + womens_email) * customers * email_cost_usd"

[objective]
maximize = { profit_usd = 1.0 }

[[constraints]]
expr = "mens_email + womens_email <= 1"
"""  # bizmodel.toml of a project planning the e-mails from [experiments.email]


def hillstrom_event_log(df: pd.DataFrame, *, start: datetime = START) -> pd.DataFrame:
    """The event log of the customers in ``df``, in a product's own column names.

    Parameters
    ----------
    df : DataFrame
        One row per customer with ``segment`` (a key of :data:`ARMS`), ``visit`` and
        ``conversion`` (0/1) and ``spend`` (USD): the Hillstrom file or one shaped like it.
    start : datetime
        The first customer's exposure; the ``i``-th of ``n`` is exposed at
        ``start + 14 days * i / n``.

    Returns
    -------
    DataFrame
        Columns ``customer`` (``c{i}``), ``time`` (UTC), ``event`` (``exposure``, ``visit``,
        ``purchase``), ``amount`` (the purchase's spend, else NaN) and ``arm`` (the
        exposure's, else NaN): for ``events import`` with ``--map user_id=customer,ts=time,
        type=event,value=amount,variant=arm --set experiment=email``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"segment": ["Womens E-Mail"], "visit": [1], "conversion": [0],
    ...                    "spend": [0.0]})
    >>> hillstrom_event_log(df)[["event", "arm"]].to_dict("list")
    {'event': ['exposure', 'visit'], 'arm': ['womens', nan]}
    """
    import pandas as pd

    rows: list[tuple[str, datetime, str, float | None, str | None]] = []
    n = len(df)
    for i, (segment, visit, conversion, spend) in enumerate(
        df[["segment", "visit", "conversion", "spend"]].itertuples(index=False)
    ):
        t = start + timedelta(days=14 * i / n)
        rows.append((f"c{i}", t, "exposure", None, ARMS[segment]))
        if visit:
            rows.append((f"c{i}", t + timedelta(hours=1), "visit", None, None))
        if conversion:
            rows.append((f"c{i}", t + timedelta(hours=2), "purchase", float(spend), None))
    return pd.DataFrame(rows, columns=["customer", "time", "event", "amount", "arm"])


def hillstrom_api_events(log: pd.DataFrame, experiment: str = "email") -> list[dict[str, Any]]:
    """The rows of :func:`hillstrom_event_log` as ``POST /v1/events`` items: exposures carry
    ``experiment`` and their arm as the variant, purchases their amount as the value, and
    each row a ``client_event_id`` (``e{k}``: a retried batch is not counted twice).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"segment": ["No E-Mail"], "visit": [1], "conversion": [1],
    ...                    "spend": [12.5]})
    >>> for event in hillstrom_api_events(hillstrom_event_log(df)):
    ...     print(event)
    {'user_id': 'c0', 'type': 'exposure', 'ts': '2008-03-03T00:00:00+00:00',
     'client_event_id': 'e0', 'experiment': 'email', 'variant': 'control'}
    {'user_id': 'c0', 'type': 'visit', 'ts': '2008-03-03T01:00:00+00:00', 'client_event_id': 'e1'}
    {'user_id': 'c0', 'type': 'purchase', 'ts': '2008-03-03T02:00:00+00:00',
     'client_event_id': 'e2', 'value': 12.5}
    """
    out: list[dict[str, Any]] = []
    for k, (user, ts, kind, amount, arm) in enumerate(
        log[["customer", "time", "event", "amount", "arm"]].itertuples(index=False)
    ):
        event: dict[str, Any] = {
            "user_id": user,
            "type": kind,
            "ts": ts.isoformat(),
            "client_event_id": f"e{k}",
        }
        if amount is not None and not math.isnan(amount):
            event["value"] = float(amount)
        if isinstance(arm, str):
            event |= {"experiment": experiment, "variant": arm}
        out.append(event)
    return out
