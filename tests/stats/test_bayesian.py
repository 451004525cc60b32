import math

import pytest
from scipy import integrate, stats

from bizmodel.errors import ConfigError
from bizmodel.stats import GaussianPrior, ProportionStatistic, analyze
from bizmodel.stats.bayesian import bayesian_test, expected_positive_part
from bizmodel.stats.effects import EffectMoments


def test_flat_prior_posterior_is_the_likelihood() -> None:
    e = EffectMoments(0.04, 0.02**2, 1e6, True, 5000)
    r = bayesian_test(e)
    assert r.estimate == 0.04 and r.se == pytest.approx(0.02)
    assert r.chance_to_win == pytest.approx(stats.norm.cdf(2.0))
    assert r.ci_low == pytest.approx(0.04 - 1.959963984540054 * 0.02)


def test_proper_prior_is_conjugate_normal_update() -> None:
    e = EffectMoments(0.10, 0.05**2, 1e6, True, 5000)
    prior = GaussianPrior(mean=0.0, variance=0.03**2, proper=True)
    r = bayesian_test(e, prior)
    prec = 1 / 0.05**2 + 1 / 0.03**2
    mean = (0.10 / 0.05**2) / prec
    assert r.estimate == pytest.approx(mean, rel=1e-12)
    assert r.se == pytest.approx(math.sqrt(1 / prec), rel=1e-12)
    assert r.estimate < 0.10  # shrunk toward the prior mean


@pytest.mark.parametrize(("mu", "sigma"), [(0.03, 0.02), (-0.01, 0.05), (0.0, 1.0)])
def test_risk_is_expected_loss_by_numerical_integration(mu: float, sigma: float) -> None:
    r = bayesian_test(EffectMoments(mu, sigma**2, 1e6, False, 100))
    pdf = stats.norm(mu, sigma).pdf
    lo, hi = mu - 12 * sigma, mu + 12 * sigma
    loss_ship = integrate.quad(lambda d: max(-d, 0.0) * pdf(d), lo, hi, points=[0.0])[0]
    loss_keep = integrate.quad(lambda d: max(d, 0.0) * pdf(d), lo, hi, points=[0.0])[0]
    assert r.risk_treatment == pytest.approx(loss_ship, rel=1e-7, abs=1e-12)
    assert r.risk_control == pytest.approx(loss_keep, rel=1e-7, abs=1e-12)
    # E[max(X,0)] - E[max(-X,0)] = E[X]
    assert r.risk_control - r.risk_treatment == pytest.approx(mu, abs=1e-12)


def test_lower_is_better_flips_chance_to_win() -> None:
    e = EffectMoments(0.05, 0.02**2, 1e6, True, 5000)
    up, down = bayesian_test(e), bayesian_test(e, lower_is_better=True)
    assert up.chance_to_win + down.chance_to_win == pytest.approx(1.0)
    assert expected_positive_part(0.0, 0.0) == 0.0


def test_bayesian_engine_end_to_end_and_prior_validation() -> None:
    r = analyze(
        {"A": ProportionStatistic(4000, 400), "B": ProportionStatistic(4000, 460)},
        engine="bayesian",
    )
    c = r.comparison("B")
    assert 0.95 < c.chance_to_win < 1
    assert math.isnan(c.p_value)
    assert r.prior == {"mean": 0.0, "variance": 0.09, "proper": False}
    with pytest.raises(ConfigError, match="a proper prior needs variance > 0, got 0"):
        GaussianPrior(0.0, 0.0, proper=True)
