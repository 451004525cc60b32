import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bizmodel.cli.output import to_json
from bizmodel.errors import ConfigError, DataError
from bizmodel.stats import analyze_units


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    y = rng.normal(10, 2, n) + (arm == "treatment") * 1.0
    return pd.DataFrame({"user": np.arange(n), "arm": arm, "y": y, "pre": rng.normal(5, 1, n)})


def test_clean_data_matches_scipy_welch() -> None:
    df = _frame()
    r = analyze_units(df, variant="arm", metric="y", relative=False)
    c, t = df.y[df.arm == "control"], df.y[df.arm == "treatment"]
    ref = stats.ttest_ind(t, c, equal_var=False)
    assert r.control == "control" and r.warnings == ()
    assert r.comparison("treatment").p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.data_quality == {"rows_in": 400, "rows_used": 400}


def test_duplicated_users_keep_first_row_with_a_count() -> None:
    df = _frame()
    df = pd.concat([df, df.iloc[[0, 2, 2]]], ignore_index=True)
    r = analyze_units(df, variant="arm", metric="y", user="user")
    assert "dropped 3 duplicate rows of 2 users; kept the first row of each" in r.warnings
    assert r.data_quality["duplicate_rows"] == 3 and r.data_quality["rows_used"] == 400
    with pytest.raises(
        DataError, match=r"column 'user': 3 duplicate rows for 2 users, e.g. \[0, 2\]"
    ):
        analyze_units(df, variant="arm", metric="y", user="user", duplicates="error")


def test_users_in_both_arms_are_dropped_with_counts() -> None:
    df = _frame()
    extra = df.iloc[[0, 2]].assign(arm="treatment")  # users 0 and 2 also seen in treatment
    r = analyze_units(pd.concat([df, extra]), variant="arm", metric="y", user="user")
    assert r.data_quality["users_in_several_arms"] == 2
    assert "dropped 2 users seen in more than one arm (4 rows), e.g. [0, 2]" in r.warnings
    assert sum(a.n for a in r.arms) == 398


def test_unknown_arms_and_missing_variant_are_dropped_and_counted() -> None:
    df = _frame()
    df.loc[0:4, "arm"] = "treatmnet"  # typo in the logs: exposure/assignment mismatch
    df.loc[5, "arm"] = None
    r = analyze_units(df, variant="arm", metric="y", arms=["control", "treatment"])
    assert "dropped 1 rows with no 'arm' value" in r.warnings
    assert any(
        w.startswith("dropped 5 rows whose 'arm' is not a planned arm") and "'treatmnet': 5" in w
        for w in r.warnings
    )


def test_missing_metric_values_dropped_per_arm_or_error() -> None:
    df = _frame()
    df.loc[[1, 3, 4], "y"] = np.nan
    r = analyze_units(df, variant="arm", metric="y")
    assert "dropped 3 rows with missing 'y': {'treatment': 2, 'control': 1}" in r.warnings
    with pytest.raises(DataError, match=r"column 'y': 3 missing values \(first at row 1\)"):
        analyze_units(df, variant="arm", metric="y", missing="error")


def test_all_empty_metric_is_an_error_not_an_index_error() -> None:
    df = pd.DataFrame({"arm": ["a", "b"], "m": [np.nan, np.nan]})
    msg = (
        r"no rows left to analyse out of 2 \(dropped 2 rows with missing 'm': "
        r"\{'a': 1, 'b': 1\}\); an A/B test needs numbers in column 'm' for at least 2 arms"
    )
    with pytest.raises(DataError, match=msg):
        analyze_units(df, variant="arm", metric="m")
    with pytest.raises(DataError, match=r"out of 0 \(the table has no rows\)"):
        analyze_units(df.iloc[:0], variant="arm", metric="m")


def test_non_numeric_metric_names_row_and_value() -> None:
    df = _frame().astype({"y": object})
    df.loc[7, "y"] = "n/a?"
    with pytest.raises(DataError, match=r"row 7, column 'y': 'n/a\?' is not a number"):
        analyze_units(df, variant="arm", metric="y")


def test_variant_with_zero_users_is_an_error() -> None:
    df = _frame()
    with pytest.raises(DataError, match=r"arm 'holdout' has 0 units after cleaning"):
        analyze_units(df, variant="arm", metric="y", arms=["control", "treatment", "holdout"])
    with pytest.raises(DataError, match=r"control arm 'ctrl' has 0 units in column 'arm'"):
        analyze_units(df, variant="arm", metric="y", control="ctrl")
    with pytest.raises(DataError, match=r"column 'arm' holds only \['control'\]"):
        analyze_units(df[df.arm == "control"], variant="arm", metric="y")


def test_zero_variance_both_arms_is_an_error_one_arm_a_warning() -> None:
    df = _frame()
    df["z"] = 0.0
    with pytest.raises(DataError, match=r"zero variance in both arms 'control' \(mean 0\)"):
        analyze_units(df, variant="arm", metric="z", relative=False)
    df.loc[df.arm == "treatment", "z"] = np.arange((df.arm == "treatment").sum()) % 3
    r = analyze_units(df, variant="arm", metric="z", relative=False)
    assert "arm 'control' has zero variance in 'z' (constant 0)" in r.warnings


def test_control_mean_zero_relative_lift_is_an_error() -> None:
    df = _frame()
    df["z"] = np.where(df.arm == "control", 0.0, 1.0) * np.arange(len(df)) % 2
    df.loc[0, "z"], df.loc[2, "z"] = 1.0, -1.0  # control mean exactly 0, with variance
    with pytest.raises(DataError, match=r"control mean is 0.*use the absolute lift"):
        analyze_units(df, variant="arm", metric="z")


def test_missing_column_and_bad_options() -> None:
    with pytest.raises(DataError, match=r"column 'revenue' not found; columns are \['user'"):
        analyze_units(_frame(), variant="arm", metric="revenue")
    with pytest.raises(ConfigError, match="metric_type must be auto, mean or proportion"):
        analyze_units(_frame(), variant="arm", metric="y", metric_type="count")  # type: ignore[arg-type]


def test_no_control_given_warns_which_was_used() -> None:
    df = _frame().replace({"arm": {"control": "A", "treatment": "B"}})
    r = analyze_units(df, variant="arm", metric="y")
    assert r.control == "A"
    assert "no control given; using 'A' (first arm in sorted order)" in r.warnings


def test_result_is_frozen_and_serialises() -> None:
    r = analyze_units(_frame(), variant="arm", metric="y")
    with pytest.raises(AttributeError):
        r.alpha = 0.1  # type: ignore[misc]
    d = json.loads(to_json(r.to_dict()))
    assert d["comparisons"][0]["arm"] == "treatment"
    assert d["comparisons"][0]["chance_to_win"] is None  # NaN -> null
    text = r.summary()
    assert "treatment" in text and "95% CI" in text and "SRM check" in text


@pytest.fixture(scope="module")
def hillstrom(shared_data: str) -> pd.DataFrame:
    path = os.path.join(shared_data, "hillstrom", "hillstrom.csv")
    if not os.path.exists(path):
        pytest.skip("hillstrom.csv not present")
    return pd.read_csv(path)


def test_hillstrom_visit_lifts_match_published_arm_summary(hillstrom: pd.DataFrame) -> None:
    r = analyze_units(hillstrom, variant="segment", metric="visit", control="No E-Mail")
    arms = {a.name: a for a in r.arms}
    assert arms["Mens E-Mail"].n == 21307 and arms["No E-Mail"].n == 21306
    assert arms["Mens E-Mail"].mean == pytest.approx(0.1828, abs=5e-5)
    assert r.metric_type == "proportion" and not r.srm.flagged
    c = r.comparison("Mens E-Mail")
    assert c.estimate == pytest.approx(0.18276 / 0.10617 - 1, abs=1e-3)
    assert c.p_value < 1e-50


def test_hillstrom_cuped_on_history_shrinks_the_spend_interval(hillstrom: pd.DataFrame) -> None:
    kw = {"variant": "segment", "metric": "spend", "control": "No E-Mail", "relative": False}
    plain = analyze_units(hillstrom, **kw)
    cuped = analyze_units(hillstrom, covariate="history", **kw)
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        assert cuped.comparison(arm).se < plain.comparison(arm).se
        assert cuped.comparison(arm).theta > 0
    bayes = analyze_units(hillstrom, engine="bayesian", covariate="history", **kw)
    assert bayes.comparison("Mens E-Mail").chance_to_win > 0.99
    assert not math.isnan(bayes.comparison("Mens E-Mail").risk_treatment)


def test_cuped_agrees_with_ancova_regression() -> None:
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(0)
    n = 4000
    arm = np.where(np.arange(n) % 2 == 0, "control", "B")
    pre = rng.normal(10, 2, n)
    y = 3 + 0.8 * pre + rng.normal(0, 1, n) + (arm == "B") * 0.3
    df = pd.DataFrame({"arm": arm, "y": y, "pre": pre, "t": (arm == "B").astype(float)})
    c = analyze_units(df, variant="arm", metric="y", covariate="pre", relative=False).comparison(
        "B"
    )
    ols = smf.ols("y ~ t + pre", df).fit()
    # pooled theta is the within+between slope, so not identical to ANCOVA, but close
    assert c.estimate == pytest.approx(ols.params["t"], abs=0.1 * ols.bse["t"])
    assert c.se == pytest.approx(ols.bse["t"], rel=0.02)


def test_relative_lift_with_zero_variance_is_an_error_not_a_zero_width_interval() -> None:
    df = _frame()
    df["z"] = np.where(df.arm == "control", np.arange(len(df)) % 3, 0.0)  # treatment all 0
    with pytest.raises(DataError, match=r"relative lift of 'treatment' over 'control' has zero"):
        analyze_units(df, variant="arm", metric="z")
    r = analyze_units(df, variant="arm", metric="z", relative=False)
    assert r.comparison("treatment").ci_low < r.comparison("treatment").estimate


@pytest.mark.parametrize("metric", ["visit", "conversion", "spend"])
def test_hillstrom_every_metric_both_engines_with_cuped(
    hillstrom: pd.DataFrame, metric: str
) -> None:
    kw = {"variant": "segment", "metric": metric, "control": "No E-Mail", "covariate": "history"}
    freq = analyze_units(hillstrom, **kw)
    bayes = analyze_units(hillstrom, engine="bayesian", **kw)
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        f, b = freq.comparison(arm), bayes.comparison(arm)
        assert f.estimate > 0 and b.estimate == pytest.approx(f.estimate)  # flat prior
        assert f.p_value_adjusted < 0.05 and b.chance_to_win > 0.95
        assert b.risk_treatment < b.risk_control
    assert freq.comparison("Mens E-Mail").estimate > freq.comparison("Womens E-Mail").estimate


def test_rows_without_user_id_and_ratio_cuped_from_rows() -> None:
    df = _frame().astype({"user": "float"})
    df.loc[[0, 1], "user"] = np.nan
    r = analyze_units(df, variant="arm", metric="y", user="user")
    assert "dropped 2 rows with no 'user' value" in r.warnings
    with pytest.raises(DataError, match="column 'user': 2 rows have no user id"):
        analyze_units(df, variant="arm", metric="y", user="user", missing="error")
    df["sessions"] = 1.0 + np.arange(len(df)) % 3
    ratio = analyze_units(df, variant="arm", metric="y", denominator="sessions")
    assert ratio.metric_type == "ratio"
    with pytest.raises(ConfigError, match="CUPED for ratio metrics from unit rows needs"):
        analyze_units(df, variant="arm", metric="y", denominator="sessions", covariate="pre")
