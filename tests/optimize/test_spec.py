"""Bad specs: each gets one line naming the file, the key and what would be valid."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bizmodel.errors import ExpressionError, SpecError
from bizmodel.optimize import evaluate_plan, load_spec, optimize
from bizmodel.optimize.spec import Spec

from .conftest import SAAS, growth_fit_json


def _raises(path: Path, match: str, kind: type[Exception] = SpecError) -> str:
    with pytest.raises(kind, match=match) as info:
        optimize(load_spec(path))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path) + ": ")
    return msg


def test_unknown_lever_in_a_constraint(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace('"ad_spend_usd <= 15000"', '"ad_spend <= 15000"'))
    _raises(
        path,
        r"constraints\[1\]\.expr: unknown variable 'ad_spend' at column 1 in 'ad_spend <= "
        r"15000'; valid: .*ad_spend_usd.*price_usd",
    )


def test_unknown_lever_in_growth_coefficients(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace("coefficients = { price_usd", "coefficients = { price"))
    _raises(path, r"growth\.coefficients\.price: unknown variable; valid: .*price_usd")


def test_min_greater_than_max(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace("min = 5.0\nmax = 80.0", "min = 80.0\nmax = 5.0"))
    _raises(path, r"levers\.price_usd: min \(80\) > max \(5\); valid: min <= max")


def test_missing_bound(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace("min = 5.0\nmax = 80.0", "min = 5.0"))
    _raises(path, r"levers\.price_usd: missing 'max'; valid: min and max numbers, or choices")


def test_division_by_zero_at_the_optimum(write_spec: Callable[..., Path]) -> None:
    # cost per user explodes as the price lever reaches zero: the optimum sits on 1/0
    spec = """
[levers.discount]
min = 0.0
max = 1.0
[quantities]
leverage = "1 / discount"
[objective]
maximize = { leverage = 1.0 }
"""
    _raises(
        write_spec(spec),
        r"quantities\.leverage: division by zero at the optimum \('discount' = 0 at "
        r"discount=0\); valid: a denominator that stays nonzero within the lever bounds",
        ExpressionError,
    )


def test_division_by_zero_away_from_the_optimum_is_fine(write_spec: Callable[..., Path]) -> None:
    # margin = profit / revenue is 0/0 at price 0, which the optimizer never needs
    spec = SAAS.replace("min = 5.0\nmax = 80.0", "min = 0.0\nmax = 80.0")
    res = optimize(load_spec(write_spec(spec)))
    assert res.status == "optimal" and res.levers["price_usd"] > 1.0


def test_syntax_error_points_at_the_token(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace('"users * price_usd"', '"users * * price_usd"'))
    _raises(
        path,
        r"quantities\.revenue_usd: syntax error at column 9 \('\*'\) in 'users \* \* "
        r"price_usd'; expected a number, a name, a function call or '\('",
        ExpressionError,
    )


def test_missing_growth_fit_file(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    text = re.sub(r"\[growth\]\n.*\n.*\n", '[growth]\nfit = "nofit.json"\n', SAAS)
    path = write_spec(text)
    _raises(
        path,
        r"growth\.fit: growth fit file '.*nofit\.json' does not exist; valid: a JSON file "
        r"written by GrowthFit\.to_json, path relative to the spec file",
    )


def test_unknown_objective(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace("maximize = { profit_usd", "maximize = { profit"))
    _raises(
        path,
        r"objective\.maximize\.profit: unknown objective 'profit'; valid: .*profit_usd.*users",
    )


def test_cycle_among_quantities(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace('users = "growth"', 'users = "revenue_usd / price_usd"'))
    _raises(
        path, r"quantities\.users: cycle among quantities: users -> revenue_usd -> users; valid: "
    )


def test_toml_syntax_error_and_missing_file(write_spec: Callable[..., Path]) -> None:
    _raises(write_spec("[levers.price\nmin = 1"), r"not valid TOML")
    with pytest.raises(SpecError, match=r"nope\.toml: spec file not found; valid: a path"):
        load_spec("nope.toml")


def test_unknown_section_and_key(write_spec: Callable[..., Path]) -> None:
    _raises(write_spec(SAAS + "\n[solver]\nx = 1\n"), r"solver: unknown section; valid: levers")
    _raises(
        write_spec(SAAS.replace("min = 5.0\nmax = 80.0", "min = 5.0\nmax = 80.0\nstep = 1")),
        r"levers\.price_usd\.step: unknown key; valid: min, max, choices",
    )


def test_choice_constants_must_match(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        SAAS.replace(
            "large = { inference_cost_usd = 0.0030, quality = 0.86 }",
            "large = { inference_cost_usd = 0.0030 }",
        )
    )
    _raises(path, r"levers\.model\.choices\.large: constants \['quality'\] not defined")


def test_constraint_must_be_a_comparison(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SAAS.replace('expr = "margin >= 0.4"', 'expr = "margin"'))
    _raises(path, r"constraints\[0\]\.expr: 'margin' is not a comparison; valid: 'lhs <= rhs'")


def test_evaluate_plan_errors_name_the_lever(write_spec: Callable[..., Path]) -> None:
    spec = load_spec(write_spec(SAAS))
    with pytest.raises(SpecError, match=r"levers\.prize: unknown lever; valid: price_usd"):
        evaluate_plan(spec, {"prize": 1.0})
    with pytest.raises(
        SpecError, match=r"levers\.model: unknown choice 'huge'; valid: small, large"
    ):
        evaluate_plan(spec, {"price_usd": 10.0, "ad_spend_usd": 0.0, "model": "huge"})
    with pytest.raises(
        SpecError,
        match=r"levers\.price_usd: 100 is outside the bounds; valid: "
        r"\[5, 80\]",
    ):
        evaluate_plan(spec, {"price_usd": 100.0, "ad_spend_usd": 0.0, "model": "small"})


def test_growth_fit_file_is_read_with_categorical_levels(write_spec: Callable[..., Path]) -> None:
    # the same model as the inline spec, with model quality folded into a one-hot column
    fit = growth_fit_json(
        {
            "intercept": 7.5 + 2 * 0.78,
            "price_usd": -0.04,
            "ad_spend_usd": 0.00004,
            "model=large": 2 * (0.86 - 0.78),
        },
        categorical={"model": ["small", "large"]},
    )
    text = re.sub(r"\[growth\]\n.*\n.*\n", '[growth]\nfit = "growth_fit.json"\n', SAAS)
    via_file = optimize(load_spec(write_spec(text, fit=fit)))
    inline = optimize(load_spec(write_spec(SAAS, name="inline.toml")))
    assert via_file.levers["model"] == inline.levers["model"] == "large"
    assert via_file.levers["price_usd"] == pytest.approx(inline.levers["price_usd"], rel=1e-7)
    assert via_file.objective == pytest.approx(inline.objective, rel=1e-9)
    # branch-and-bound relaxes the one-hot column "model=large" to a choice weight
    bnb = optimize(load_spec(write_spec(text, fit=fit)), enumerate_limit=1)
    assert bnb.levers == via_file.levers


def test_growth_fit_file_problems_are_named(write_spec: Callable[..., Path]) -> None:
    text = re.sub(r"\[growth\]\n.*\n.*\n", '[growth]\nfit = "growth_fit.json"\n', SAAS)
    bad = growth_fit_json({"intercept": 1.0, "price": -0.1})
    _raises(
        write_spec(text, fit=bad),
        r"growth\.fit: growth_fit\.json: feature 'price' is not a "
        r"lever, constant or quantity of the spec; valid: .*price_usd",
    )
    bad = growth_fit_json({"intercept": 1.0})
    bad["format_version"] = 7
    _raises(write_spec(text, fit=bad), r"growth\.fit: .* has format_version 7; valid: 1")
    fit = growth_fit_json(
        {"intercept": 1.0, "model=big": 0.1}, categorical={"model": ["small", "big"]}
    )
    _raises(
        write_spec(text, fit=fit),
        r"levers\.model\.choices: choice 'large' has no effect in "
        r"the growth fit growth_fit\.json; valid: small, big",
    )


def test_dict_and_toml_specs_are_the_same(write_spec: Callable[..., Path]) -> None:
    import tomllib

    from_file = load_spec(write_spec(SAAS))
    from_dict = Spec.from_dict(tomllib.loads(SAAS))
    assert from_file.lever_names == from_dict.lever_names
    np.testing.assert_array_equal(from_file.growth.params, from_dict.growth.params)  # type: ignore[union-attr]


def test_growth_fit_with_exposure_needs_an_exposure_expression(
    write_spec: Callable[..., Path],
) -> None:
    fit = growth_fit_json({"intercept": -3.0, "price_usd": -0.04})
    fit["exposure"] = True
    spec = """
[levers.price_usd]
min = 5.0
max = 80.0
[constants]
visitors = 50000
[growth]
fit = "growth_fit.json"
[quantities]
revenue_usd = "growth * price_usd"
[objective]
maximize = { revenue_usd = 1.0 }
"""
    _raises(
        write_spec(spec, fit=fit),
        r"growth\.exposure: growth_fit\.json was fitted with an "
        r"exposure .*valid: exposure = \"<expression>\"",
    )
    res = optimize(
        load_spec(
            write_spec(
                spec.replace(
                    'fit = "growth_fit.json"', 'fit = "growth_fit.json"\nexposure = "visitors"'
                ),
                fit=fit,
            )
        )
    )
    assert res.levers["price_usd"] == pytest.approx(25.0, rel=1e-7)
    assert res.quantities["growth"] == pytest.approx(50000 * np.exp(-3.0 - 1.0), rel=1e-7)


def test_growth_without_a_growth_section(write_spec: Callable[..., Path]) -> None:
    spec = (
        '[levers.p]\nmin = 1\nmax = 2\n[quantities]\nu = "growth * p"\n'
        "[objective]\nmaximize = { u = 1 }\n"
    )
    _raises(
        write_spec(spec),
        r"quantities\.u: uses 'growth' but the spec has no \[growth\] "
        r"section; valid: add \[growth\]",
    )
