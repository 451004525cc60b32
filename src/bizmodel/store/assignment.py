"""Deterministic, sticky experiment assignment by hashing (no I/O).

A user's position in ``[0, 1)`` is ``u = int(sha256(salt + ":" + user_id)[:16 hex], 16) / 2**64``;
the variant is the first whose cumulative normalised weight exceeds ``u``. The same
(salt, user) pair always gets the same variant (sticky); different experiments have different
salts, so a user's variants in two experiments are independent; over many users each variant's
share converges to its weight / total weight.

Examples
--------
>>> variants = [{"name": "control", "weight": 1}, {"name": "treatment", "weight": 1}]
>>> assign_variant("salt-1", "user-42", variants) == assign_variant("salt-1", "user-42", variants)
True
>>> hash_unit("salt-1", "user-42")
0.00694...
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import DataError

VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hash_unit(salt: str, user_id: str) -> float:
    """Map (salt, user id) to a number in ``[0, 1)`` uniformly and deterministically.

    Examples
    --------
    >>> 0.0 <= hash_unit("a", "b") < 1.0
    True
    """
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 2.0**64


def assign_variant(salt: str, user_id: str, variants: Sequence[Mapping[str, Any]]) -> str:
    """Name of the variant that ``user_id`` gets in the experiment salted with ``salt``.

    ``variants`` is a list of ``{"name": str, "weight": float > 0}``.

    Examples
    --------
    >>> assign_variant("s", "u", [{"name": "only", "weight": 3}])
    'only'
    """
    total = sum(float(v["weight"]) for v in variants)
    target = hash_unit(salt, user_id) * total
    acc = 0.0
    for v in variants:
        acc += float(v["weight"])
        if target < acc:
            return str(v["name"])
    return str(variants[-1]["name"])  # only reached through float rounding at the very top


def validate_variants(
    variants: Sequence[Mapping[str, Any]], *, needs_model_version: bool = False
) -> list[dict[str, Any]]:
    """Check names are unique and valid and weights positive; return clean copies.

    Examples
    --------
    >>> validate_variants([{"name": "a", "weight": 0}])
    Traceback (most recent call last):
    ...
    bizmodel.errors.DataError: variant 'a': weight must be a finite number > 0, got 0
    """
    if not variants:
        raise DataError("an experiment needs at least one variant")
    seen: set[str] = set()
    out = []
    for v in variants:
        name = str(v.get("name", ""))
        if not VARIANT_NAME.match(name):
            raise DataError(
                f"variant name {name!r} is not valid: use 1-64 letters, digits, '_', '-', '.'"
            )
        if name in seen:
            raise DataError(f"variant {name!r} appears twice")
        seen.add(name)
        weight = v.get("weight", 1.0)
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise DataError(f"variant {name!r}: weight must be a finite number > 0, got {weight}")
        clean: dict[str, Any] = {"name": name, "weight": float(weight)}
        mv = v.get("model_version")
        if needs_model_version:
            if not isinstance(mv, int) or mv < 1:
                raise DataError(
                    f"variant {name!r}: a model experiment needs model_version >= 1, got {mv!r}"
                )
            clean["model_version"] = mv
        out.append(clean)
    return out
