"""The distribution functions from ``scipy.special`` equal ``scipy.stats`` to the last bit."""

from __future__ import annotations

import itertools

import pytest
from scipy import stats

from bizmodel.stats import distributions as d

XS = [-40.0, -8.5, -3.0, -1.959964, -0.3, 0.0, 1e-9, 0.7, 2.0, 5.5, 38.0]
QS = [1e-12, 0.001, 0.025, 0.05, 0.3, 0.5, 0.8, 0.95, 0.975, 0.999, 1 - 1e-12]
DFS = [1.0, 2.5, 7.0, 30.0, 99.9, 1234.5, 1e6, 1e9]


@pytest.mark.parametrize("x", XS)
def test_normal(x: float) -> None:
    assert d.norm_cdf(x) == stats.norm.cdf(x)
    assert d.norm_pdf(x) == stats.norm.pdf(x)
    for loc, scale in [(0.0, 1.0), (0.3, 0.02), (-2.0, 7.5)]:
        assert d.norm_sf(x, loc=loc, scale=scale) == stats.norm.sf(x, loc=loc, scale=scale)


@pytest.mark.parametrize("q", QS)
def test_normal_quantile(q: float) -> None:
    assert d.norm_ppf(q) == stats.norm.ppf(q)


@pytest.mark.parametrize("df", DFS)
def test_student_t_and_chi_square(df: float) -> None:
    for x, q in itertools.product(XS, QS):
        assert d.t_cdf(x, df) == stats.t.cdf(x, df)
        assert d.t_sf(x, df) == stats.t.sf(x, df)
        assert d.t_ppf(q, df) == stats.t.ppf(q, df)
        assert d.chi2_sf(abs(x), df) == stats.chi2.sf(abs(x), df)
