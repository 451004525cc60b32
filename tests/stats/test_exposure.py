import numpy as np
import pandas as pd
import pytest

from bizmodel.errors import ConfigError, DataError
from bizmodel.stats import analyze_units
from bizmodel.stats.exposure import ExposureRule, exposure_rules

RULE = "landing_page=control:old_page,treatment:new_page"


def _log() -> pd.DataFrame:
    """200 users, arm by parity, one row each, with known exposure problems added."""
    rng = np.random.default_rng(7)
    n = 200
    user = np.arange(n)
    arm = np.where(user % 2 == 0, "control", "treatment")
    page = np.where(arm == "control", "old_page", "new_page").astype(object)
    y = rng.normal(10, 2, n) + (arm == "treatment") * 0.5
    df = pd.DataFrame({"user": user, "group": arm, "landing_page": page, "y": y})
    df.loc[[3, 11], "landing_page"] = "old_page"  # treatment users shown the old page
    df.loc[10, "landing_page"] = "new_page"  # a control user shown the new page
    df.loc[51, "landing_page"] = None  # what user 51 saw is unknown: a mismatch too
    extra = pd.DataFrame(
        {
            # user 20 (control) has a second row on the new page: mismatch, 2 rows dropped
            # user 30 (control) is also in treatment on the right page: several arms
            # user 40 is logged twice, consistently: a duplicate
            "user": [20, 30, 40],
            "group": ["control", "treatment", "control"],
            "landing_page": ["new_page", "new_page", "old_page"],
            "y": [9.0, 11.0, df.y[40]],
        }
    )
    return pd.concat([df, extra], ignore_index=True)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert [(s.name, s.n) for s in a.arms] == [(s.name, s.n) for s in b.arms]
    for ca, cb in zip(a.comparisons, b.comparisons, strict=True):
        for f in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert getattr(ca, f) == pytest.approx(getattr(cb, f), abs=1e-12, rel=0)


def test_units_with_a_mismatched_row_are_dropped_entirely_and_counted_apart() -> None:
    df = _log()
    r = analyze_units(df, variant="group", metric="y", user="user", expect=RULE)
    q = r.data_quality
    assert q["rows_exposure_mismatch"] == 5
    assert q["users_exposure_mismatch"] == 5
    assert q["rows_users_exposure_mismatch"] == 6  # user 20's consistent row goes too
    assert q["users_in_several_arms"] == 1 and q["rows_users_in_several_arms"] == 2
    assert q["duplicate_rows"] == 1
    assert q["rows_used"] == len(df) - 6 - 2 - 1
    assert r.warnings[0] == (
        "exposure mismatch: 5 rows break the rule ('landing_page' must be 'old_page' in "
        "'control', 'new_page' in 'treatment'): {'treatment': 3, 'control': 2}; dropped their "
        "5 users entirely (6 rows), e.g. [3, 10, 11]"
    )
    by_hand = df[~df.user.isin([3, 10, 11, 20, 51, 30])].drop_duplicates("user")
    _same(r, analyze_units(by_hand, variant="group", metric="y"))


def test_without_a_user_column_only_the_rows_are_dropped() -> None:
    df = _log()
    r = analyze_units(df, variant="group", metric="y", expect=[RULE])
    assert r.data_quality["rows_exposure_mismatch"] == 5
    assert "users_exposure_mismatch" not in r.data_quality
    mism = df.index[[3, 10, 11, 51, 200]]
    assert r.warnings[0].startswith(
        "exposure mismatch: dropped 5 rows that break the rule ('landing_page' must be "
    )
    _same(r, analyze_units(df.drop(mism), variant="group", metric="y"))


def test_rule_as_a_mapping_equals_the_text() -> None:
    df = _log()
    as_map = {"landing_page": {"control": "old_page", "treatment": "new_page"}}
    a = analyze_units(df, variant="group", metric="y", user="user", expect=as_map)
    b = analyze_units(df, variant="group", metric="y", user="user", expect=RULE)
    assert a.data_quality == b.data_quality
    _same(a, b)
    rule = ExposureRule.parse(RULE)
    c = analyze_units(df, variant="group", metric="y", user="user", expect=[rule])
    assert c.data_quality == b.data_quality


def test_arms_the_rule_does_not_name_are_not_checked_and_numbers_compare_as_text() -> None:
    arm = ["a", "a", "b", "b", "b", "c", "c"]
    df = pd.DataFrame({"arm": arm, "v": [1.0, 1.0, 2.0, 2.0, 1.0, 5.0, 6.0]})
    df["y"] = [1.0, 2.0, 3.0, 5.0, 4.0, 4.0, 6.0]
    r = analyze_units(df, variant="arm", metric="y", expect="v=a:1,b:2", relative=False)
    assert r.data_quality["rows_exposure_mismatch"] == 1  # row 4: arm b with v = 1
    assert [(a.name, a.n) for a in r.arms] == [("a", 2), ("b", 2), ("c", 2)]


def test_parse() -> None:
    assert ExposureRule.parse(" page = A:old , B:https://x/new ") == ExposureRule(
        "page", {"A": "old", "B": "https://x/new"}
    )
    assert exposure_rules(None) == ()


@pytest.mark.parametrize(
    ("expect", "error", "match"),
    [
        (
            "landing_page",
            ConfigError,
            r"an exposure rule must look like COLUMN=ARM:VALUE,ARM:VALUE \(e\.g\. landing_page="
            r"control:old_page,treatment:new_page\); got 'landing_page'",
        ),
        ("landing_page=control", ConfigError, r"'control' is not ARM:VALUE"),
        ("landing_page=control:a,control:b", ConfigError, r"arm 'control' is given twice"),
        (
            [RULE, "landing_page=control:old_page"],
            ConfigError,
            r"column 'landing_page' has 2 exposure rules",
        ),
        (
            "page=control:old_page",
            DataError,
            r"exposure rule: column 'page' not found; columns are \['user', 'group', "
            r"'landing_page', 'y'\]",
        ),
        (
            "landing_page=control:old_page,treatmnt:new_page",
            DataError,
            r"exposure rule for 'landing_page': arm 'treatmnt' is not in column 'group'; "
            r"arms are \['control', 'treatment'\]",
        ),
        (
            "landing_page=control:old,treatment:new_page",
            DataError,
            r"value 'old' \(arm 'control'\) never occurs in column 'landing_page'; values are "
            r"\['new_page', 'old_page'\]",
        ),
    ],
)
def test_malformed_rules_are_one_line_errors(
    expect: str | list[str], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        analyze_units(_log(), variant="group", metric="y", user="user", expect=expect)
