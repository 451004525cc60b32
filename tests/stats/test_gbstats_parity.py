"""GrowthBook parity: ``convention="gbstats"`` reproduces gbstats' own published test values.

Every number below is copied from GrowthBook's test suite (gbstats cannot be installed beside
numpy 2, so the values are ported, not the code), at commit
78e2595337cab39879ca83b4ff0395a534d3cfa6 of https://github.com/growthbook/growthbook:

* ``packages/stats/tests/frequentist/test_tests.py`` (FT) — 5 decimals;
* ``packages/stats/tests/bayesian/test_tests.py`` (BT) — 5 decimals;
* ``packages/stats/tests/test_gbstats.py`` (GB) — 9 decimals.

Each case is checked to the decimals its source test rounds to. Where bizmodel's default
convention differs, the test says so and by how much (docs/statistics.md has the table).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bizmodel.errors import DataError
from bizmodel.stats import (
    CupedMeanStatistic,
    CupedProportionStatistic,
    CupedRatioStatistic,
    GaussianPrior,
    MeanStatistic,
    ProportionStatistic,
    RatioStatistic,
    analyze,
)
from bizmodel.stats.effects import effect_moments
from bizmodel.stats.frequentist import fixed_horizon_test

GB = {"convention": "gbstats"}


def close(x: float, expected: float, decimals: int) -> bool:
    """gbstats' own check: both sides rounded to ``decimals`` agree."""
    if math.isinf(expected):
        return x == expected
    return bool(np.round(x, decimals) == np.round(expected, decimals))


def check(c: object, decimals: int, **expected: float) -> None:
    for name, value in expected.items():
        got = getattr(c, name)
        assert close(got, value, decimals), f"{name}: got {got!r}, gbstats {value!r}"


# FT TestTwoSidedTTest.setUp and the Sequential/OneSided setUps (n = 3000 for control)
A_3407 = MeanStatistic(3407, 1396.87, 52377.9767)
A_3000 = MeanStatistic(3000, 1396.87, 52377.9767)
B_3461 = MeanStatistic(3461, 2422.7, 134698.29)


def _ratio_ra(
    n: int,
    sums: tuple[float, float, float, float],
    squares: tuple[float, float, float, float],
    mm: float,
    dd: float,
    mpdp: float,
    md: float,
    mdp: float,
    mpd: float,
) -> CupedRatioStatistic:
    # gbstats names -> bizmodel order MD, MM', MD', DM', DD', M'D'
    return CupedRatioStatistic(n, sums, squares, (md, mm, mdp, mpd, dd, mpdp))


# FT test_two_sided_ttest_test_runs_ratio_ra (also GB RATIO_RA_STATISTICS_DF, up to the
# 15th digit of two products)
RATIO_RA_A = _ratio_ra(
    100,
    (485.112236689623, 679.9093275844917, 192.59138069991536, 290.1398399750233),
    (2715.484666118136, 4939.424001640236, 460.076026390857, 920.9461385038898),
    mm=1113.6215759318352,
    dd=2130.9404074446747,
    mpdp=634.239482353647,
    md=3602.146836776702,
    mdp=1559.2878434944676,
    mpd=1460.3181079276983,
)
RATIO_RA_B = _ratio_ra(
    100,
    (514.7757826608777, 705.4090874383759, 206.94157227402536, 302.54389139107326),
    (2994.897482705013, 5291.36604146392, 514.2903702246757, 994.4506208125663),
    mm=1237.0953021125997,
    dd=2292.081739775257,
    mpdp=698.4173425817908,
    md=3918.1561431600717,
    mdp=1701.0287270040265,
    mpd=1604.0759503266522,
)


# --- frequentist, fixed horizon (FT) -----------------------------------------------------


@pytest.mark.parametrize("convention", ["bizmodel", "gbstats"])
def test_two_sided_welch_relative_and_absolute(convention: str) -> None:
    s = {"a": A_3407, "b": B_3461}
    rel = analyze(s, convention=convention).comparison("b")  # type: ignore[arg-type]
    check(rel, 5, estimate=0.70732, ci_low=-0.03526, ci_high=1.44989, se=0.37879)
    check(rel, 5, p_value=0.06191)
    ab = analyze(s, relative=False, convention=convention).comparison("b")  # type: ignore[arg-type]
    check(ab, 5, estimate=0.29, ci_low=0.04538, ci_high=0.53462, se=0.12478, p_value=0.02016)


def test_two_sided_welch_proportion() -> None:
    c = analyze({"a": ProportionStatistic(28, 14), "b": ProportionStatistic(30, 16)}, **GB)
    check(c.comparison("b"), 5, estimate=0.06667, ci_low=-0.47767, ci_high=0.61101)
    check(c.comparison("b"), 5, se=0.2717, p_value=0.80707)


@pytest.mark.parametrize(
    ("alternative", "relative", "expected"),
    [
        # FT TestOneSidedGreaterTTest / TestOneSidedLesserTTest
        (
            "greater",
            True,
            (0.5033610858562358, -0.045136675850396046, math.inf, 0.06558262868467746),
        ),
        (
            "greater",
            False,
            (0.23437666666666668, 0.020791480063255735, math.inf, 0.03554272489873023),
        ),
        ("less", True, (0.5033610858562358, -math.inf, 1.0518588475628676, 0.9344173713153225)),
        (
            "less",
            False,
            (0.23437666666666668, -math.inf, 0.44796185327007765, 0.9644572751012698),
        ),
    ],
)
def test_one_sided_welch(
    alternative: str, relative: bool, expected: tuple[float, float, float, float]
) -> None:
    r = analyze(
        {"a": A_3000, "b": B_3461},
        alternative=alternative,  # type: ignore[arg-type]
        relative=relative,
        **GB,  # type: ignore[arg-type]
    )
    est, lo, hi, p = expected
    se = 0.3334122146400735 if relative else 0.12983081254184736
    check(r.comparison("b"), 5, estimate=est, ci_low=lo, ci_high=hi, p_value=p, se=se)


def test_cuped_ratio_two_sided() -> None:
    c = analyze({"a": RATIO_RA_A, "b": RATIO_RA_B}, **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, estimate=-0.0007, ci_low=-0.00841, ci_high=0.00700, se=0.00391, p_value=0.85771)
    # GB test_analyze_metric_df_ratio_ra, 9 decimals
    check(c, 9, estimate=-0.000701483, p_value=0.857710405)


# --- frequentist, sequential (FT) --------------------------------------------------------


def test_sequential_two_sided_mean_proportion() -> None:
    r = analyze({"a": A_3000, "b": B_3461}, sequential=True, n_star=1000, **GB)  # type: ignore[arg-type]
    check(r.comparison("b"), 5, estimate=0.50336, ci_low=-0.55844, ci_high=1.56516)
    check(r.comparison("b"), 5, se=0.33341, p_value=1.0)
    p = {"a": ProportionStatistic(3000, 1396), "b": ProportionStatistic(3461, 2422)}
    c = analyze(p, sequential=True, **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, estimate=0.50386, ci_low=0.40098, ci_high=0.60675, se=0.03386, p_value=0.0)


def _cuped_seq() -> dict[str, CupedMeanStatistic]:
    # FT test_sequential_test_runs_ra: post_pre_sum_of_products = 1 in both arms
    return {
        "a": CupedMeanStatistic(3000, 1396.87, 52377.9767, 16.87, 527.9767, 1.0),
        "b": CupedMeanStatistic(3461, 2422.7, 134698.29, 22.7, 1348.29, 1.0),
    }


def test_sequential_cuped_mean() -> None:
    c = analyze(_cuped_seq(), sequential=True, **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, estimate=0.50338, ci_low=-0.50969, ci_high=1.51646, se=0.33341, p_value=1.0)


def test_sequential_cuped_mean_default_differs_in_the_fifth_decimal() -> None:
    # the pre-period means differ (0.00562 vs 0.00656): bizmodel's exact delta method and
    # gbstats' approximation part in the 6th significant digit of the interval
    exact = analyze(_cuped_seq(), sequential=True).comparison("b")
    gb = analyze(_cuped_seq(), sequential=True, **GB).comparison("b")  # type: ignore[arg-type]
    assert exact.estimate == gb.estimate
    assert 1e-7 < abs(exact.se - gb.se) < 1e-4
    assert close(exact.ci_low, -0.50969, 4)


def test_sequential_cuped_ratio() -> None:
    r = analyze({"a": RATIO_RA_A, "b": RATIO_RA_B}, sequential=True, **GB)  # type: ignore[arg-type]
    check(r.comparison("b"), 5, estimate=-0.0007, ci_low=-0.02063, ci_high=0.01923)
    check(r.comparison("b"), 5, se=0.00391, p_value=1.0)


@pytest.mark.parametrize(
    ("alternative", "relative", "ci", "p"),
    [
        # FT TestSequentialOneSidedGreaterTTest / TestSequentialOneSidedLesserTTest
        ("greater", True, (-0.42356454602790883, math.inf), 0.4999),
        ("greater", False, (-0.12656844172804982, math.inf), 0.46316491943359384),
        ("less", True, (-math.inf, 1.4302867177403806), 0.4999),
        ("less", False, (-math.inf, 0.5953217750613832), 0.4999),
    ],
)
def test_sequential_one_sided(
    alternative: str, relative: bool, ci: tuple[float, float], p: float
) -> None:
    s = {"a": A_3000, "b": B_3461}
    kw = {"sequential": True, "alternative": alternative, "relative": relative}
    c = analyze(s, **kw, **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, ci_low=ci[0], ci_high=ci[1], p_value=p)
    # bizmodel's closed-form p-value: same interval; the same p inside gbstats' bracket
    # [1e-5, 0.4999], the exact p above it (1 when the estimate points the other way)
    d = analyze(s, **kw).comparison("b")  # type: ignore[arg-type]
    check(d, 12, ci_low=c.ci_low, ci_high=c.ci_high)
    if alternative == "less":
        assert d.p_value == 1.0
    elif p < 0.4999:
        # gbstats stops bisecting once the interval's end is within 1e-6 of 0 and returns
        # the next midpoint: 0.463165 where the exact p is 0.463047
        assert d.p_value == pytest.approx(p, abs=2e-4)
        assert not close(d.p_value, p, 4)
    else:
        assert d.p_value > 0.4999


# --- Bayesian (BT) ------------------------------------------------------------------------


def test_bayesian_proportion() -> None:
    s = {"a": ProportionStatistic(100, 49), "b": ProportionStatistic(100, 51)}
    c = analyze(s, engine="bayesian", **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, estimate=0.04082, ci_low=-0.24779, ci_high=0.32943, se=0.14725)
    check(c, 5, chance_to_win=0.60918, risk_control=0.0814, risk_treatment=0.04058)


def test_bayesian_mean_flat_and_informative_prior() -> None:
    s = {"a": MeanStatistic(10, 100.0, 1002.25), "b": MeanStatistic(10, 105.0, 1111.5)}
    c = analyze(s, engine="bayesian", **GB).comparison("b")  # type: ignore[arg-type]
    check(c, 5, estimate=0.05, ci_low=-0.02, ci_high=0.12, se=0.03572, chance_to_win=0.91923)
    check(c, 5, risk_control=0.05131, risk_treatment=0.00131)
    prior = GaussianPrior(mean=0.1, variance=0.1, proper=True)
    i = analyze(s, engine="bayesian", prior=prior, **GB).comparison("b")  # type: ignore[arg-type]
    check(i, 5, estimate=0.05063, ci_low=-0.01893, ci_high=0.12019, se=0.03549)
    check(i, 5, chance_to_win=0.92315, risk_control=0.05186, risk_treatment=0.00123)


# --- whole analyses from warehouse sums (GB, 9 decimals) ----------------------------------

# GB QUERY_OUTPUT, dimension "one"
COUNT = {"zero": MeanStatistic(100, 270.0, 848.79), "one": MeanStatistic(120, 300.0, 869.0)}


def test_count_metric_bayesian_frequentist_sequential() -> None:
    b = analyze(COUNT, engine="bayesian", **GB).comparison("one")  # type: ignore[arg-type]
    check(b, 9, estimate=-0.074074074, chance_to_win=0.071834168, risk_treatment=0.075691131)
    inv = analyze(COUNT, engine="bayesian", lower_is_better=True, **GB).comparison("one")  # type: ignore[arg-type]
    check(inv, 9, chance_to_win=1 - 0.071834168, risk_treatment=0.001617057)
    f = analyze(COUNT, **GB).comparison("one")  # type: ignore[arg-type]
    check(f, 9, estimate=-0.074074074, p_value=0.145219005)
    q = analyze(COUNT, sequential=True, n_star=600, **GB).comparison("one")  # type: ignore[arg-type]
    check(q, 9, p_value=0.892332229, ci_low=-0.233322085)


# GB RA_STATISTICS_DF
RA = {
    "zero": (3001, 300.0, 600.0, 210.0, 415.0, -20.0),
    "one": (3000, 222.0, 555.0, 120.0, 405.0, -10.0),
}


def test_cuped_mean_and_proportion() -> None:
    m = {k: CupedMeanStatistic(*v) for k, v in RA.items()}
    c = analyze(m, **GB).comparison("one")  # type: ignore[arg-type]
    check(c, 9, estimate=-0.281707154, p_value=0.003732549)
    assert close(analyze(m, **GB).arms[0].mean, 0.099966678, 9)  # type: ignore[arg-type]
    # binomial post and pre: gbstats drops the sums of squares (Σy² = Σy for 0/1 data)
    p = {
        k: CupedProportionStatistic(n, s, s, x, x, sp, pre_binary=True)
        for k, (n, s, _, x, _, sp) in RA.items()
    }
    d = analyze(p, **GB).comparison("one")  # type: ignore[arg-type]
    check(d, 9, estimate=-0.31620216, p_value=0.000000353)


def test_cuped_mean_default_convention_differs_where_pre_means_differ() -> None:
    # pre-period means 0.070 vs 0.040: the point estimate is the same in both conventions,
    # the exact delta method gives p = 0.003375 where gbstats' approximation gives 0.003733
    m = {k: CupedMeanStatistic(*v) for k, v in RA.items()}
    exact = analyze(m).comparison("one")
    assert close(exact.estimate, -0.281707154, 9)
    assert not close(exact.p_value, 0.003732549, 4)
    assert exact.p_value == pytest.approx(0.003732549, abs=5e-4)


# --- sums that imply a negative variance ---------------------------------------------------

# GB RATIO_STATISTICS_DF: Σd² = 800 < (Σd)²/n = 2083.3 in arm "one" (and 810 < 2601 in "zero")
RATIO = {
    "zero": RatioStatistic(100, 270.0, 848.79, 510.0, 810.0, -900.0),
    "one": RatioStatistic(120, 300.0, 869.0, 500.0, 800.0, -905.0),
}


@pytest.mark.parametrize("convention", ["bizmodel", "gbstats"])
def test_impossible_ratio_sums_are_a_data_error_in_both_conventions(convention: str) -> None:
    msg = (
        r"^metric: arm 'zero' has sums that imply a negative variance: denominator "
        r"Σy² = 810 < \(Σy\)²/n = 510²/100 = 2601 \(n = 100\); real data cannot give that"
    )
    with pytest.raises(DataError, match=msg):
        analyze(RATIO, convention=convention)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="negative variance"):
        analyze(RATIO, engine="bayesian", convention=convention)  # type: ignore[arg-type]


def test_gbstats_ratio_formula_matches_where_gbstats_computes_on() -> None:
    # gbstats computes on from these sums (GB test_get_metric_dfs_frequentist_ratio, 9
    # decimals); bizmodel's formula, with the refusal bypassed, gives the same numbers, so
    # the refusal is the only difference
    c, t = RATIO["zero"].moments(), RATIO["one"].moments()
    e = effect_moments(c, t, relative=True, convention="gbstats")
    assert close(e.estimate, 0.133333333, 9)
    assert close(fixed_horizon_test(e).p_value, 0.610663339, 9)
    assert close(RATIO["zero"].mean, 0.529411765, 9) and RATIO["one"].mean == 0.6


def test_negative_mean_variance_is_a_data_error() -> None:
    # FT test_two_sided_ttest_missing_variance: n = 2 with Σy² < (Σy)²/n; gbstats returns its
    # empty result with ZERO_NEGATIVE_VARIANCE_MESSAGE, bizmodel names the arm and the sums
    s = {"a": MeanStatistic(2, 1396.87, 52377.9767), "b": B_3461}
    with pytest.raises(DataError, match=r"arm 'a' has sums .* Σy² = 52378 < \(Σy\)²/n"):
        analyze(s, **GB)  # type: ignore[arg-type]


# --- the convention from the CLI and the project setting -----------------------------------


def test_cli_flag_and_project_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from bizmodel.cli import run
    from bizmodel.stats import analyze_units

    rng = np.random.default_rng(3)
    arm = np.repeat(["control", "new"], 300)
    pre = rng.normal(10, 2, 600) + (arm == "new") * 1.0  # unequal pre-period means
    y = 2 * pre + rng.normal(0, 1, 600) + (arm == "new") * 2.0
    df = pd.DataFrame({"arm": arm, "y": y, "pre": pre})
    path = tmp_path / "ab.csv"
    df.to_csv(path, index=False)
    opts = {"variant": "arm", "metric": "y", "covariate": "pre", "control": "control"}
    want = {
        c: analyze_units(df, **opts, convention=c).comparison("new").se
        for c in ("bizmodel", "gbstats")
    }  # type: ignore[arg-type]
    assert abs(want["bizmodel"] - want["gbstats"]) > 1e-6
    monkeypatch.chdir(tmp_path)
    base = ["ab-test", str(path), "--variant", "arm", "--metric", "y", "--covariate", "pre"]
    base += ["--control", "control", "--json"]

    def se(args: list[str]) -> tuple[str, float]:
        assert run(args) == 0
        d = json.loads(capsys.readouterr().out)
        return d["convention"], d["comparisons"][0]["se"]

    assert se(base) == ("bizmodel", pytest.approx(want["bizmodel"], rel=1e-9))
    assert se([*base, "--convention", "gbstats"]) == (
        "gbstats",
        pytest.approx(want["gbstats"], rel=1e-9),
    )
    (tmp_path / "bizmodel.toml").write_text('stats_convention = "gbstats"\n')
    assert se(base) == ("gbstats", pytest.approx(want["gbstats"], rel=1e-9))
    assert se([*base, "--convention", "bizmodel"])[0] == "bizmodel"
    assert run([*base, "--convention", "growthbook"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: convention must be one of bizmodel, gbstats; got 'growthbook'\n"


def test_bayesian_relative_prior_rescaled_for_absolute_lift() -> None:
    # BT test_bayesian_effect_relative_effect: a proper prior N(1, 1) stated on the relative
    # lift, rescaled by the control mean for the absolute lift, keeps the chance to win
    # within 2 places (assertAlmostEqual(places=2))
    s = {"c": MeanStatistic(100, 1000.0, 200000.0), "t": MeanStatistic(100, 1100.0, 200005.0)}
    prior = GaussianPrior(mean=1.0, variance=1.0, proper=True)
    kw = {"engine": "bayesian", "prior": prior, **GB}
    ab = analyze(s, relative=False, **kw).comparison("t")  # type: ignore[arg-type]
    rel = analyze(s, **kw).comparison("t")  # type: ignore[arg-type]
    assert round(ab.chance_to_win - rel.chance_to_win, 2) == 0
    # bizmodel takes the prior on the scale of the lift analysed: N(1, 1) on an absolute lift
    # of 10 (control mean 10) pulls less
    plain = analyze(s, relative=False, engine="bayesian", prior=prior).comparison("t")
    assert plain.estimate != pytest.approx(ab.estimate, rel=1e-6)
    zero = {"c": MeanStatistic(3, 0.0, 2.0), "t": MeanStatistic(3, 3.0, 5.0)}
    with pytest.raises(DataError, match="gbstats' relative prior cannot be rescaled"):
        analyze(zero, relative=False, **kw)  # type: ignore[arg-type]
