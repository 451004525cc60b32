import pytest
from statsmodels.stats.power import NormalIndPower

from bizmodel.errors import ConfigError
from bizmodel.stats import minimum_detectable_effect, power, sample_size


def test_sample_size_matches_statsmodels_normal_power() -> None:
    # mean metric, sd 2, absolute effect 0.1, 2:1 allocation
    r = sample_size(0.1, baseline_mean=5.0, baseline_sd=2.0, relative=False, ratio=2.0)
    ref = NormalIndPower().solve_power(effect_size=0.05, alpha=0.05, power=0.8, ratio=2.0)
    assert r.n_per_arm == pytest.approx(ref, abs=1.0)
    assert r.n_total == r.n_per_arm + 2 * r.n_per_arm


def test_power_at_the_computed_sample_size_reaches_the_target() -> None:
    r = sample_size(0.05, baseline_mean=0.2, proportion=True, power=0.9)
    p = power(r.n_per_arm, 0.05, baseline_mean=0.2, proportion=True)
    assert 0.9 <= p.power < 0.9005
    assert power(r.n_per_arm - 50, 0.05, baseline_mean=0.2, proportion=True).power < 0.9


def test_mde_inverts_sample_size() -> None:
    n = sample_size(0.03, baseline_mean=10, baseline_sd=4).n_per_arm
    m = minimum_detectable_effect(n, baseline_mean=10, baseline_sd=4)
    assert m.mde == pytest.approx(0.03, rel=2e-3)
    ref = NormalIndPower().solve_power(nobs1=n, alpha=0.05, power=0.8, ratio=1.0)
    assert m.mde * 10 / 4 == pytest.approx(ref, rel=1e-6)


def test_one_sided_and_multi_arm() -> None:
    two = sample_size(0.1, baseline_mean=1, baseline_sd=1).n_per_arm
    one = sample_size(0.1, baseline_mean=1, baseline_sd=1, alternative="greater").n_per_arm
    three = sample_size(0.1, baseline_mean=1, baseline_sd=1, arms=3).n_per_arm
    assert one < two < three


def test_power_errors() -> None:
    with pytest.raises(ConfigError, match="baseline_sd must be > 0 for a mean metric"):
        sample_size(0.1, baseline_mean=1.0)
    with pytest.raises(ConfigError, match=r"a baseline proportion must lie in \(0, 1\), got 1.5"):
        sample_size(0.1, baseline_mean=1.5, proportion=True)
    with pytest.raises(ConfigError, match="the effect must be non-zero"):
        sample_size(0.0, baseline_mean=1.0, baseline_sd=1.0)
