import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from bizmodel.errors import ConfigError
from bizmodel.stats import MeanStatistic, analyze, benjamini_hochberg, holm, srm_check
from bizmodel.stats.corrections import adjust_p_values


def test_holm_and_bh_match_statsmodels() -> None:
    p = list(np.random.default_rng(3).uniform(0, 0.2, 9))
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)
    assert benjamini_hochberg(p) == pytest.approx(
        list(multipletests(p, method="fdr_bh")[1]), rel=1e-12
    )


def test_nan_p_values_pass_through() -> None:
    out = holm([0.01, math.nan, 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02)
    with pytest.raises(ConfigError, match="correction must be one of holm, bh, none; got 'bonf'"):
        adjust_p_values([0.1], "bonf")


def test_srm_matches_scipy_chisquare() -> None:
    counts, w = [1020, 980, 2100], [0.25, 0.25, 0.5]
    r = srm_check(counts, w)
    ref = stats.chisquare(counts, [sum(counts) * x for x in w])
    assert r.chi2 == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert not r.flagged


def test_srm_flags_the_result_and_multiple_arms_are_corrected() -> None:
    s = {
        "control": MeanStatistic(5000, 5000.0, 10000.0),
        "b": MeanStatistic(4600, 4700.0, 9600.0),
        "c": MeanStatistic(5000, 5200.0, 10800.0),
    }
    r = analyze(s, correction="bh")
    assert r.srm.flagged
    assert any("sample ratio mismatch: units [5000, 4600, 5000]" in w for w in r.warnings)
    assert "SAMPLE RATIO MISMATCH" in r.summary()
    raw = [c.p_value for c in r.comparisons]
    assert [c.p_value_adjusted for c in r.comparisons] == pytest.approx(benjamini_hochberg(raw))
    with pytest.raises(ConfigError, match="planned split has 2 weights for 3 arms"):
        analyze(s, planned_split=[0.5, 0.5])
