import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bizmodel.errors import ConfigError, DataError
from bizmodel.growth import GrowthFit, GrowthModel, fit_from_experiments, fit_growth

CONTRACT_KEYS = {
    "format",
    "format_version",
    "family",
    "link",
    "param_names",
    "params",
    "cov",
    "dispersion",
    "features",
    "categorical",
    "exposure",
    "n_obs",
    "deviance",
    "aic",
}


def _data(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["free", "pro", "team"], n)
    price = rng.uniform(5, 15, n)
    users = rng.integers(50, 500, n)
    rate = np.exp(
        -1 - 0.05 * price + np.where(plan == "pro", 0.3, 0) + np.where(plan == "team", 0.5, 0)
    )
    return pd.DataFrame(
        {"plan": plan, "price": price, "users": users, "signups": rng.poisson(rate * users)}
    )


def test_json_contract_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fit = fit_growth(
        _data(), "signups", ["price", "plan"], family="negative_binomial", exposure="users"
    )
    path = tmp_path / "fit.json"
    text = fit.to_json(path)
    d = json.loads(path.read_text())
    assert set(d) == CONTRACT_KEYS and json.loads(text) == d
    assert d["format"] == "bizmodel-growth-fit" and d["format_version"] == 1
    assert d["param_names"] == ["intercept", "price", "plan=pro", "plan=team"]
    assert d["features"] == ["price", "plan"] and d["categorical"] == {
        "plan": ["free", "pro", "team"]
    }
    assert d["exposure"] is True and d["n_obs"] == 2000 and d["link"] == "log"
    assert isinstance(d["dispersion"], float) and len(d["cov"]) == 4 == len(d["cov"][0])
    back = GrowthFit.from_json(path)
    again = GrowthFit.from_json(text)
    assert back.params == fit.params == again.params and back.bse == fit.bse
    new = pd.DataFrame({"price": [10.0], "plan": ["team"]})
    np.testing.assert_allclose(back.predict(new).mean, fit.predict(new).mean, rtol=1e-15)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_from_json_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="cannot read growth fit"):
        GrowthFit.from_json(tmp_path / "missing.json")
    with pytest.raises(DataError, match="not a growth fit: 'format' must be 'bizmodel-growth-fit'"):
        GrowthFit.from_json('{"format": "other"}')
    with pytest.raises(DataError, match="unsupported format_version 2; this bizmodel reads 1"):
        GrowthFit.from_json('{"format": "bizmodel-growth-fit", "format_version": 2}')


def test_predict_interval_matches_statsmodels_get_prediction() -> None:
    df = _data(seed=1)
    fit = fit_growth(df, "signups", ["price", "plan"], exposure="users")
    X = fit.spec.matrix(df)
    ref = sm.GLM(df.signups, X, family=sm.families.Poisson(), exposure=df.users).fit(tol=1e-12)
    new = df.iloc[:5]
    pred = fit.predict(new, exposure=new.users.to_numpy(), interval=True)
    frame = ref.get_prediction(X[:5], exposure=new.users.to_numpy()).summary_frame()
    np.testing.assert_allclose(pred.mean, frame["mean"], rtol=1e-6)
    np.testing.assert_allclose(pred.lower, frame["mean_ci_lower"], rtol=1e-6)
    np.testing.assert_allclose(pred.upper, frame["mean_ci_upper"], rtol=1e-6)
    with pytest.raises(DataError, match=r"column 'plan': level 'gold' was not seen when fitting"):
        fit.predict(pd.DataFrame({"price": [1.0], "plan": ["gold"]}))


def test_elasticity_and_summary() -> None:
    fit = fit_growth(_data(seed=2), "signups", ["price", "plan"], exposure="users")
    assert fit.elasticity("price") == fit.params["price"]
    assert fit.elasticity("price", at=10.0) == pytest.approx(10 * fit.params["price"])
    assert fit.elasticity("plan=pro") == fit.params["plan=pro"]
    with pytest.raises(
        ConfigError, match=r"'plan' is categorical; ask for one level: \['plan=pro'"
    ):
        fit.elasticity("plan")
    with pytest.raises(ConfigError, match="unknown lever 'ads'"):
        fit.elasticity("ads")
    text = fit.summary()
    assert "poisson GLM, log link, 2000 rows, exposure offset" in text and "plan=team" in text


def test_fit_from_experiments_maps_arms_to_levers() -> None:
    rng = np.random.default_rng(4)
    arms = rng.choice(["control", "cheap", "ads"], 6000)
    price = pd.Series(arms).map({"control": 10.0, "cheap": 8.0, "ads": 10.0}).to_numpy()
    ads = pd.Series(arms).map({"control": 0.0, "cheap": 0.0, "ads": 1.0}).to_numpy()
    y = rng.poisson(np.exp(1.5 - 0.1 * price + 0.3 * ads))
    df = pd.DataFrame({"arm": arms, "visits": y})
    levers = {
        "control": {"price": 10, "ads": 0},
        "cheap": {"price": 8, "ads": 0},
        "ads": {"price": 10, "ads": 1},
    }
    fit = fit_from_experiments(df, "arm", "visits", levers)
    assert fit.param_names == ("intercept", "ads", "price")
    assert fit.conf_int()["price"][0] < -0.1 < fit.conf_int()["price"][1]
    with pytest.raises(DataError, match=r"column 'arm' has arms \['ads'\] without lever values"):
        fit_from_experiments(df, "arm", "visits", {k: levers[k] for k in ("control", "cheap")})
    with pytest.raises(
        ConfigError, match=r"arm 'cheap' sets levers \['price'\]; every arm must set"
    ):
        fit_from_experiments(df, "arm", "visits", {**levers, "cheap": {"price": 8}})


def test_design_errors_name_columns() -> None:
    df = _data(n=100)
    with pytest.raises(DataError, match=r"feature column 'ads' not found; columns are \['plan'"):
        fit_growth(df, "signups", ["price", "ads"])
    df.loc[3, "price"] = np.nan
    with pytest.raises(DataError, match=r"column 'price': 1 missing values \(first at row 3\)"):
        fit_growth(df, "signups", ["price"])
    with pytest.raises(DataError, match=r"reference level 'gold' of column 'plan' not found"):
        fit_growth(_data(n=100), "signups", ["plan"], reference={"plan": "gold"})
    m = GrowthModel().fit(np.ones((10, 1)) * np.arange(10)[:, None], np.arange(10) % 3)
    with pytest.raises(DataError, match=r"X has 2 columns; this fit needs 1: \['x0'\]"):
        m.predict(np.ones((2, 2)))
