import math

import numpy as np
import pytest
from scipy import stats

from bizmodel.errors import ConfigError
from bizmodel.stats import MeanStatistic, analyze
from bizmodel.stats.effects import EffectMoments, effect_moments
from bizmodel.stats.frequentist import (
    fixed_horizon_test,
    sequential_halfwidth,
    sequential_rho,
    sequential_test,
)

rng = np.random.default_rng(11)


def _stat(y: np.ndarray) -> MeanStatistic:
    return MeanStatistic(len(y), float(y.sum()), float((y * y).sum()))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_absolute_welch_matches_scipy(alternative: str) -> None:
    a, b = rng.normal(1.0, 1.0, 300), rng.normal(1.2, 2.0, 200)
    e = effect_moments(_stat(a).moments(), _stat(b).moments(), relative=False)
    r = fixed_horizon_test(e, alpha=0.1, alternative=alternative)  # type: ignore[arg-type]
    ref = stats.ttest_ind(b, a, equal_var=False, alternative=alternative)
    ci = ref.confidence_interval(0.9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.dof == pytest.approx(ref.df, rel=1e-10)
    assert r.ci_low == pytest.approx(ci.low, rel=1e-9)
    assert r.ci_high == pytest.approx(ci.high, rel=1e-9)


def test_relative_lift_matches_gbstats_delta_formula() -> None:
    a, b = _stat(rng.normal(10, 3, 500)), _stat(rng.normal(11, 3, 400))
    e = effect_moments(a.moments(), b.moments(), relative=True)
    ma, mb = a.mean, b.mean
    var = b.variance / (ma**2 * b.n) + a.variance * mb**2 / (ma**4 * a.n)
    assert e.estimate == pytest.approx((mb - ma) / ma)
    assert e.variance == pytest.approx(var, rel=1e-12)


def test_relative_lift_divides_by_absolute_control_mean() -> None:
    a, b = MeanStatistic(100, -100.0, 300.0), MeanStatistic(100, -50.0, 200.0)
    e = effect_moments(a.moments(), b.moments(), relative=True)
    assert e.estimate == pytest.approx(0.5)  # -0.5 - (-1) = +0.5 over |-1|


def test_sequential_halfwidth_matches_waudby_smith_eq9() -> None:
    se, n, alpha, n_star = 0.02, 12000, 0.05, 5000.0
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    s2 = se**2 * n
    t = n * rho**2
    expected = math.sqrt(s2) * math.sqrt(
        2 * (t + 1) / (n**2 * rho**2) * math.log(math.sqrt(t + 1) / alpha)
    )
    assert sequential_halfwidth(se, n, alpha, n_star) == pytest.approx(expected, rel=1e-12)


def test_sequential_interval_is_wider_and_p_value_consistent() -> None:
    rho = sequential_rho(0.05)
    for est in (0.01, 0.05, 0.08, 0.2):
        e = EffectMoments(est, 0.02**2, 1e6, False, 10000)
        fixed, seq = fixed_horizon_test(e), sequential_test(e)
        assert seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low
        assert seq.p_value >= fixed.p_value
        excludes_zero = seq.ci_low > 0 or seq.ci_high < 0
        assert excludes_zero == (seq.p_value < 0.05)
        # the p-value is the alpha at which the sequence (rho fixed) touches 0
        if 1e-300 < seq.p_value < 1:
            w = sequential_halfwidth(0.02, 10000, seq.p_value, rho=rho)
            assert w == pytest.approx(est, rel=1e-9)


def test_sequential_one_sided_matches_gbstats_formula() -> None:
    se, n, alpha, est = 0.02, 10000, 0.05, 0.05
    e = EffectMoments(est, se**2, 1e6, False, n)
    g = sequential_test(e, alpha=alpha, alternative="greater")
    lo = sequential_test(e, alpha=alpha, alternative="less")
    a2 = 2 * alpha  # rho of a one-sided sequence is computed at 2 alpha
    rho = math.sqrt((-2 * math.log(a2) + math.log(-2 * math.log(a2) + 1)) / 5000)
    t = n * rho**2
    log_term = math.log(1 + math.sqrt(t + 1) / (2 * alpha))
    half = math.sqrt(se**2 * n * 2 * (t + 1) / (n * rho) ** 2 * log_term)
    assert g.ci_high == math.inf and g.ci_low == pytest.approx(est - half, rel=1e-12)
    assert lo.ci_low == -math.inf and lo.p_value == 1.0
    w = sequential_halfwidth(se, n, g.p_value, rho=rho, two_sided=False)
    assert w == pytest.approx(est, rel=1e-9)
    assert g.p_value < sequential_test(e, alpha=alpha).p_value


def test_confidence_sequence_covers_under_continuous_peeking() -> None:
    # 400 A/A experiments, each looked at 15 times: an ordinary CI is "significant" at some
    # look far more often than alpha; the confidence sequence must not be.
    rng2 = np.random.default_rng(2024)
    looks = np.linspace(200, 4000, 15).astype(int)
    a, b = rng2.normal(0, 1, (400, 4000)), rng2.normal(0, 1, (400, 4000))
    ca, cb = np.cumsum(a, axis=1)[:, looks - 1], np.cumsum(b, axis=1)[:, looks - 1]
    qa, qb = np.cumsum(a * a, axis=1)[:, looks - 1], np.cumsum(b * b, axis=1)[:, looks - 1]
    false_seq = np.zeros(400, dtype=bool)
    false_fixed = np.zeros(400, dtype=bool)
    for j, n in enumerate(looks):
        for i in range(400):
            sa = MeanStatistic(int(n), ca[i, j], qa[i, j])
            sb = MeanStatistic(int(n), cb[i, j], qb[i, j])
            e = effect_moments(sa.moments(), sb.moments(), relative=False)
            w = sequential_halfwidth(e.se, e.n_total, 0.05)
            false_seq[i] |= abs(e.estimate) > w
            false_fixed[i] |= abs(e.estimate) > 1.96 * e.se
    assert false_seq.mean() <= 0.05
    assert false_fixed.mean() > 0.12  # peeking breaks the fixed-horizon test


def test_bad_alpha_and_alternative_are_config_errors() -> None:
    s = {"a": MeanStatistic(10, 10.0, 20.0), "b": MeanStatistic(10, 12.0, 25.0)}
    with pytest.raises(ConfigError, match=r"alpha must lie in \(0, 1\), got 1.5"):
        analyze(s, alpha=1.5)
    with pytest.raises(ConfigError, match="alternative must be one of two-sided, greater, less"):
        analyze(s, alternative="bigger")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sequential testing is a frequentist method"):
        analyze(s, engine="bayesian", sequential=True)
