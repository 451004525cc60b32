"""Exposure consistency: a declared column must agree with each unit's arm.

A real A/B log often records both the assignment (``group = treatment``) and what the unit
was actually shown (``landing_page = new_page``). Rows where the two disagree measure neither
arm. A rule such as ``landing_page=control:old_page,treatment:new_page`` declares which value
each arm must show; :func:`exposure_mismatch` finds the rows that break it.

Policy (applied by :func:`bizmodel.stats.analyze_units`, counted in ``data_quality`` and
``warnings``):

- without a unit id column, each disagreeing row is dropped;
- with one (``user=``), a unit with *any* disagreeing row is dropped entirely, all its rows,
  because its outcome may come from the wrong experience.

Arms a rule does not name are not checked; an empty cell in the rule's column disagrees
(what the unit saw is unknown). Values are compared as text (``1``, ``1.0`` and ``"1"`` are
the same). Mismatches are checked before units in several arms and duplicates, so each unit
is counted under one reason only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from bizmodel.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Expect", "ExposureRule", "exposure_mismatch", "exposure_rules"]

_SYNTAX = "COLUMN=ARM:VALUE,ARM:VALUE (e.g. landing_page=control:old_page,treatment:new_page)"


@dataclass(frozen=True)
class ExposureRule:
    """The value ``column`` must hold for units of each named arm.

    Examples
    --------
    >>> ExposureRule.parse("landing_page=control:old_page,treatment:new_page")
    ExposureRule(column='landing_page', expected={'control': 'old_page', 'treatment': 'new_page'})
    """

    column: str  # the column that must agree with the arm, e.g. "landing_page"
    expected: Mapping[str, str]  # arm label -> the value of ``column`` its units must show

    @classmethod
    def parse(cls, text: str) -> ExposureRule:
        """Read ``COLUMN=ARM:VALUE,ARM:VALUE``; arms before the first ``:`` of each pair."""
        column, sep, body = text.partition("=")
        column = column.strip()
        if not sep or not column or not body.strip():
            raise ConfigError(f"an exposure rule must look like {_SYNTAX}; got {text!r}")
        expected: dict[str, str] = {}
        for pair in body.split(","):
            arm, colon, value = (p.strip() for p in pair.partition(":"))
            if not colon or not arm or not value:
                raise ConfigError(
                    f"exposure rule {text!r}: {pair.strip()!r} is not ARM:VALUE; a rule must "
                    f"look like {_SYNTAX}"
                )
            if arm in expected:
                raise ConfigError(f"exposure rule {text!r}: arm {arm!r} is given twice")
            expected[arm] = value
        return cls(column, expected)


#: What ``analyze_units(expect=...)`` accepts: rule texts or rules, or ``{column: {arm: value}}``.
Expect: TypeAlias = str | Sequence[str | ExposureRule] | Mapping[str, Mapping[str, Any]]


def exposure_rules(expect: Expect | None) -> tuple[ExposureRule, ...]:
    """Normalise ``expect`` to rules; one rule per column.

    Examples
    --------
    >>> exposure_rules({"page": {"A": "old", "B": "new"}})
    (ExposureRule(column='page', expected={'A': 'old', 'B': 'new'}),)
    """
    if expect is None:
        return ()
    if isinstance(expect, str):
        rules = [ExposureRule.parse(expect)]
    elif isinstance(expect, Mapping):
        rules = [
            ExposureRule(str(col), {str(a): _text(v) for a, v in arms.items()})
            for col, arms in expect.items()
        ]
    else:
        rules = [t if isinstance(t, ExposureRule) else ExposureRule.parse(t) for t in expect]
    columns = [r.column for r in rules]
    for r in rules:
        if columns.count(r.column) > 1:
            raise ConfigError(
                f"column {r.column!r} has {columns.count(r.column)} exposure rules; give one "
                "rule per column naming every arm to check"
            )
        if not r.expected:
            raise ConfigError(f"exposure rule for {r.column!r} names no arm; {_SYNTAX}")
    return tuple(rules)


def _text(value: Any) -> str:
    # 1.0 (a float column read from CSV) and 1 are the same value to a reader of the log
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)


def exposure_mismatch(
    data: pd.DataFrame,
    rules: Sequence[ExposureRule],
    *,
    variant: str,
    names: Sequence[str],
    vcodes: np.ndarray,
) -> np.ndarray:
    """Rows whose rule column disagrees with their arm (boolean mask over ``data``).

    ``names`` are the arm labels as text and ``vcodes`` each row's index into them (−1 for no
    arm). A rule naming an unknown column, an arm absent from ``variant`` or a value that never
    occurs in its column is an error listing what would be valid.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"arm": ["A", "B", "B"], "page": ["old", "new", "old"]})
    >>> rule = ExposureRule("page", {"A": "old", "B": "new"})
    >>> exposure_mismatch(df, [rule], variant="arm", names=["A", "B"],
    ...                   vcodes=np.array([0, 1, 1])).tolist()
    [False, False, True]
    """
    import pandas as pd

    bad = np.zeros(len(data), dtype=bool)
    for rule in rules:
        if rule.column not in data.columns:
            raise DataError(
                f"exposure rule: column {rule.column!r} not found; columns are {list(data.columns)}"
            )
        codes, uniques = pd.factorize(data[rule.column])
        texts = [_text(u) for u in uniques]
        for arm, value in rule.expected.items():
            if arm not in names:
                raise DataError(
                    f"exposure rule for {rule.column!r}: arm {arm!r} is not in column "
                    f"{variant!r}; arms are {list(names)}"
                )
            ok = [i for i, t in enumerate(texts) if t == value]
            if not ok:
                shown = sorted(set(texts))
                raise DataError(
                    f"exposure rule for {rule.column!r}: value {value!r} (arm {arm!r}) never "
                    f"occurs in column {rule.column!r}; values are {shown[:10]}"
                    + (f" and {len(shown) - 10} more" if len(shown) > 10 else "")
                )
            bad |= (vcodes == names.index(arm)) & ~np.isin(codes, ok)
    return bad
