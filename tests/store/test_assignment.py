"""Assignment hashing: uniform by weights (chi-square), sticky, independent across salts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from bizmodel.errors import DataError
from bizmodel.store import assign_variant, hash_unit, validate_variants

USERS = [f"user-{i}" for i in range(30_000)]


def test_shares_match_weights_chi_square() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}, {"name": "c", "weight": 5}]
    got = [assign_variant("exp-1", u, variants) for u in USERS]
    observed = np.array([got.count(n) for n in "abc"])
    expected = np.array([1, 2, 5]) / 8 * len(USERS)
    assert stats.chisquare(observed, expected).pvalue > 0.01
    np.testing.assert_allclose(observed / len(USERS), [1 / 8, 2 / 8, 5 / 8], atol=0.01)


def test_hash_unit_is_uniform_ks() -> None:
    u = np.array([hash_unit("salt", x) for x in USERS])
    assert stats.kstest(u, "uniform").pvalue > 0.01


def test_independent_across_experiments() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    first = [assign_variant("salt-one", u, variants) for u in USERS]
    second = [assign_variant("salt-two", u, variants) for u in USERS]
    table = np.zeros((2, 2))
    for x, y in zip(first, second, strict=True):
        table["ab".index(x), "ab".index(y)] += 1
    assert stats.chi2_contingency(table).pvalue > 0.01


@given(salt=st.text(max_size=20), user=st.text(min_size=1, max_size=40))
def test_sticky_and_valid(salt: str, user: str) -> None:
    variants = [{"name": "x", "weight": 0.3}, {"name": "y", "weight": 0.7}]
    v = assign_variant(salt, user, variants)
    assert v in ("x", "y")
    assert all(assign_variant(salt, user, variants) == v for _ in range(3))
    assert 0.0 <= hash_unit(salt, user) < 1.0


def test_validate_variants_messages() -> None:
    with pytest.raises(DataError, match="at least one variant"):
        validate_variants([])
    with pytest.raises(DataError, match="variant 'a' appears twice"):
        validate_variants([{"name": "a"}, {"name": "a"}])
    with pytest.raises(DataError, match=r"variant name '\.\./x' is not valid"):
        validate_variants([{"name": "../x"}])
    with pytest.raises(DataError, match="needs model_version >= 1, got None"):
        validate_variants([{"name": "a"}], needs_model_version=True)
