"""A spec's growth from a project's stored fit (``[growth] from_experiment``), and the flag on a
recommendation whose levers rest on growth coefficients that are not significant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bizmodel.errors import SpecError
from bizmodel.growth import fit_from_experiments
from bizmodel.optimize import optimize
from bizmodel.optimize.effects import growth_effects
from bizmodel.optimize.growth_file import stored_fit_path
from bizmodel.optimize.spec import Spec

ARMS = {"control": {"email": 0.0}, "mail": {"email": 1.0}}


def units(mail_ones: int) -> pd.DataFrame:
    """100 users per arm with 0/1 visits: 50 ones in control, ``mail_ones`` in mail."""
    control = [1.0] * 50 + [0.0] * 50
    mail = [1.0] * mail_ones + [0.0] * (100 - mail_ones)
    return pd.DataFrame({"variant": ["control"] * 100 + ["mail"] * 100, "visit": control + mail})


def store_fit(project: Path, data: pd.DataFrame, metric: str = "visit") -> dict[str, object]:
    fit = fit_from_experiments(data, "variant", "visit", ARMS)
    body = {**fit.to_dict(), "experiment": {"name": "email", "metric": metric, "arms": ARMS}}
    path = stored_fit_path(project, "email")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return body


def spec(**growth: object) -> dict[str, object]:
    return {
        "levers": {"email": {"choices": [0, 1]}},
        "constants": {"customers": 10000.0, "email_cost_usd": 0.05},
        "growth": {"from_experiment": "email", **growth},
        "quantities": {
            "visits": "growth * customers",
            "profit_usd": "visits * 2.0 - email * customers * email_cost_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0}},
    }


def statsmodels_pvalue(data: pd.DataFrame) -> float:
    X = sm.add_constant((data["variant"] == "mail").astype(float).to_numpy())
    res = sm.GLM(data["visit"].to_numpy(), X, family=sm.families.Poisson()).fit()
    return float(res.pvalues[1])


def test_a_spec_reads_the_projects_stored_fit(tmp_path: Path) -> None:
    body = store_fit(tmp_path, units(75))
    s = Spec.from_dict(spec(), source=str(tmp_path / "bizmodel.toml"), base_dir=tmp_path)
    assert s.growth is not None
    assert s.growth.features == ("email",)
    assert s.growth.params.tolist() == body["params"]
    assert s.growth.source == "growth/email.json"
    # log(75/50) per email, 10,000 customers: visits with mail = 7,500; profit 15,000 - 500
    res = optimize(s)
    assert res.levers["email"] == 1.0
    assert res.quantities["visits"] == pytest.approx(7500.0, rel=1e-9)


def test_missing_fit_names_the_command_that_makes_it(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError,
        match=r"growth\.from_experiment: no stored growth fit of experiment 'email' \(.*"
        r"growth/email\.json\); make it with: bizmodel fit-growth --project .* "
        r"--experiment email --metric visit$",
    ):
        Spec.from_dict(spec(metric="visit"), base_dir=tmp_path)


def test_levers_of_the_fit_must_be_levers_of_the_spec(tmp_path: Path) -> None:
    store_fit(tmp_path, units(75))
    other = spec()
    other["levers"] = {"sms": {"min": 0.0, "max": 1.0}}
    other["quantities"] = {"visits": "growth * customers", "profit_usd": "visits - sms"}
    with pytest.raises(
        SpecError,
        match=r"the fit of experiment 'email' \(.*\) has levers \['email'\] but the spec's "
        r"numeric \[levers\] are \['sms'\]; declare 'email' as a lever",
    ):
        Spec.from_dict(other, base_dir=tmp_path)


def test_the_stored_metric_is_checked_and_numbers_are_not_mixed_in(tmp_path: Path) -> None:
    store_fit(tmp_path, units(75), metric="conversion")
    with pytest.raises(SpecError, match=r"is of metric 'conversion', not 'visit'; refit it"):
        Spec.from_dict(spec(metric="visit"), base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"growth\.intercept: give either from_experiment"):
        Spec.from_dict(spec(intercept=1.0), base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"growth\.metric: goes with from_experiment"):
        Spec.from_dict({**spec(), "growth": {"intercept": 1.0, "metric": "visit"}})


def test_an_insignificant_effect_is_flagged_with_its_p_value(tmp_path: Path) -> None:
    data = units(51)  # 51% vs 50%: log(1.02) with a standard error of ~0.2
    store_fit(tmp_path, data)
    res = optimize(Spec.from_dict(spec(), base_dir=tmp_path))
    [effect] = res.growth_effects
    p = statsmodels_pvalue(data)
    assert p > 0.9
    assert effect.coefficient == "email" and effect.lever == "email"
    assert effect.p_value == pytest.approx(p, rel=1e-6)
    assert effect.ci_low < 0 < effect.ci_high and not effect.significant
    [warning] = res.warnings
    assert warning.startswith(
        f"not significant: lever 'email' rests on growth coefficient 'email' = 0.0198 "
        f"(p = {p:.3g} > 0.05, 95% CI ["
    )
    assert "--robust 0.1" in warning and "--robust expected" in warning
    assert f"warning: {warning}" in res.summary()
    d = res.to_dict()
    assert d["warnings"] == [warning]
    assert d["growth_effects"][0]["significant"] is False
    # the robust mode says it was used
    robust = optimize(Spec.from_dict(spec(), base_dir=tmp_path), robust=0.1, samples=50)
    assert "optimised over the fit's uncertainty (quantile=0.1)" in robust.warnings[0]


def test_a_significant_effect_is_not_flagged(tmp_path: Path) -> None:
    data = units(90)
    store_fit(tmp_path, data)
    res = optimize(Spec.from_dict(spec(), base_dir=tmp_path))
    [effect] = res.growth_effects
    assert effect.p_value == pytest.approx(statsmodels_pvalue(data), rel=1e-6)
    assert effect.p_value < 1e-3 and effect.significant and effect.ci_low > 0
    assert res.warnings == ()
    assert "NOT SIGNIFICANT" not in res.summary()


def test_effects_follow_the_levers_and_need_standard_errors() -> None:
    base = {
        "levers": {"price": {"min": 1.0, "max": 9.0}, "fixed": {"min": 2.0, "max": 2.0}},
        "constants": {"c": 1.0},
        "quantities": {"users": "growth"},
        "objective": {"maximize": {"users": 1.0}},
    }
    coefficients = {"price": -0.1, "fixed": 0.3, "c": 0.2}
    errors = {"price": 0.2, "fixed": 0.01, "c": 0.5}
    with_se = Spec.from_dict(
        {**base, "growth": {"intercept": 1.0, "coefficients": coefficients, "std_errors": errors}}
    )
    # a lever that cannot move and a constant are not what a recommendation rests on
    [e] = growth_effects(with_se)
    z = 0.1 / 0.2
    from scipy import stats

    assert e.coefficient == "price" and e.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert e.ci_high == pytest.approx(-0.1 + stats.norm.ppf(0.975) * 0.2)
    without = Spec.from_dict({**base, "growth": {"intercept": 1.0, "coefficients": coefficients}})
    assert growth_effects(without) == ()
    with pytest.raises(SpecError, match=r"alpha: got 2; valid: a number in \(0, 1\)"):
        growth_effects(with_se, alpha=2)
    assert np.isfinite(e.std_error)
