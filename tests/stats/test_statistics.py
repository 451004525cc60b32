import numpy as np
import pytest

from bizmodel.errors import DataError
from bizmodel.stats import (
    CupedProportionStatistic,
    CupedRatioStatistic,
    MeanStatistic,
    ProportionStatistic,
    RatioStatistic,
    pooled_theta,
)
from bizmodel.stats.units import arm_statistics

rng = np.random.default_rng(7)


def _mean(y: np.ndarray) -> MeanStatistic:
    return MeanStatistic(len(y), float(y.sum()), float((y * y).sum()))


def test_mean_statistic_matches_numpy() -> None:
    y = rng.normal(3, 2, 500)
    s = _mean(y)
    assert s.mean == pytest.approx(y.mean(), rel=1e-12)
    assert s.variance == pytest.approx(y.var(ddof=1), rel=1e-10)


def test_proportion_variance_is_p_times_one_minus_p() -> None:
    s = ProportionStatistic(200, 50)
    assert s.variance == pytest.approx(0.25 * 0.75)
    with pytest.raises(DataError, match=r"successes must lie in \[0, n=10\], got 11"):
        ProportionStatistic(10, 11)


def test_ratio_variance_is_delta_method_of_unit_sums() -> None:
    n = 4000
    d = rng.poisson(5, n) + 1.0
    m = d * rng.gamma(2, 1.5, n)
    s = RatioStatistic(n, m.sum(), (m * m).sum(), d.sum(), (d * d).sum(), (m * d).sum())
    r = m.sum() / d.sum()
    # linearisation: Var(mean(m - r d)) / mean(d)^2, per unit
    expected = np.var(m - r * d, ddof=1) / d.mean() ** 2
    assert s.mean == pytest.approx(r)
    assert s.variance == pytest.approx(expected, rel=1e-9)


def test_pooled_theta_is_the_pooled_regression_slope() -> None:
    x = rng.normal(10, 3, 1000)
    y = 2 + 0.7 * x + rng.normal(0, 1, 1000)
    codes = (np.arange(1000) % 2).astype(int)
    a, b = arm_statistics(codes, 2, y, kind="mean", x=x)
    slope = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert pooled_theta(a, b) == pytest.approx(slope, rel=1e-10)
    m = a.moments(slope)
    ya, xa = y[codes == 0], x[codes == 0]
    assert m.mean == pytest.approx(ya.mean() - slope * xa.mean(), rel=1e-12)
    assert m.var == pytest.approx(np.var(ya - slope * xa, ddof=1), rel=1e-9)
    assert m.mean_unadjusted == pytest.approx(ya.mean())


def test_cuped_proportion_uses_bernoulli_variance() -> None:
    y = (rng.random(400) < 0.3).astype(float)
    x = rng.normal(size=400)
    s = CupedProportionStatistic(400, y.sum(), y.sum(), x.sum(), (x * x).sum(), (x * y).sum())
    p = y.mean()
    assert s.moments(0.0).var == pytest.approx(p * (1 - p))
    assert pooled_theta(s, s) != 0


def test_cuped_ratio_with_theta_zero_equals_plain_ratio() -> None:
    n = 1000
    d, dp = rng.poisson(4, n) + 1.0, rng.poisson(4, n) + 1.0
    m, mp = d * rng.gamma(2, 1, n), dp * rng.gamma(2, 1, n)
    cols = [m, d, mp, dp]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    s = CupedRatioStatistic(
        n,
        tuple(float(c.sum()) for c in cols),  # type: ignore[arg-type]
        tuple(float((c * c).sum()) for c in cols),  # type: ignore[arg-type]
        tuple(float((cols[i] * cols[j]).sum()) for i, j in pairs),  # type: ignore[arg-type]
    )
    plain = RatioStatistic(n, m.sum(), (m * m).sum(), d.sum(), (d * d).sum(), (m * d).sum())
    mom = s.moments(0.0)
    assert mom.mean == pytest.approx(plain.mean)
    assert mom.var == pytest.approx(plain.variance, rel=1e-9)
    theta = pooled_theta(s, s)
    # the pooled theta minimises the adjusted variance
    v = [s.moments(t).var for t in (theta - 0.05, theta, theta + 0.05)]
    assert v[1] <= min(v[0], v[2])


def test_empty_and_single_unit_arms_have_zero_variance() -> None:
    assert MeanStatistic(0, 0.0, 0.0).mean == 0.0
    assert MeanStatistic(1, 2.0, 4.0).variance == 0.0
    with pytest.raises(DataError, match="n must be ≥ 0, got -1"):
        MeanStatistic(-1, 0.0, 0.0)


def test_real_data_never_reads_as_impossible_sums() -> None:
    # large means over small spreads cancel digits in Σy² − (Σy)²/n; a covariate equal to the
    # metric and a denominator proportional to the numerator sit exactly on the bounds
    from bizmodel.stats.statistics import CupedMeanStatistic, negative_variance

    for offset in (0.0, 1e4, 1e6):
        y = offset + rng.normal(0, 1, 100_000)
        codes = np.zeros(len(y), dtype=int)
        (m,) = arm_statistics(codes, 1, y, kind="mean")
        (c,) = arm_statistics(codes, 1, y, kind="mean", x=y.copy())
        (r,) = arm_statistics(codes, 1, y, kind="mean", den=3 * y)
        assert isinstance(c, CupedMeanStatistic)
        for s in (m, c, r):
            assert negative_variance(s) is None, (offset, s)
    cr = CupedRatioStatistic(3, (6.0, 6.0, 6.0, 6.0), (14.0,) * 4, (14.0,) * 6)
    assert negative_variance(cr) is None
    bad = CupedRatioStatistic(3, (6.0, 6.0, 6.0, 6.0), (14.0,) * 4, (20.0,) * 6)
    assert "eigenvalue" in str(negative_variance(bad))
    assert "covariance" in str(negative_variance(CupedMeanStatistic(3, 6.0, 14.0, 6.0, 14.0, 30.0)))
    assert "ratio's variance" in str(negative_variance(RatioStatistic(4, 4.0, 5.0, 4.0, 5.0, 20.0)))
