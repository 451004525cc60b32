"""GrowthModel vs statsmodels GLM (params, bse, deviance, llf, AIC to 1e-6)."""

import os

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bizmodel.errors import ConfigError, DataError, NotFittedError
from bizmodel.growth import GrowthModel, fit_growth

TOL = 1e-6


def _sim(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.uniform(0, 2, n)])
    mu = np.exp(0.3 + 0.4 * X[:, 0] - 0.5 * X[:, 1] + 0.2 * X[:, 2])
    return X, mu


def _close(fit, ref, bse=True) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(fit.coef, ref.params, rtol=TOL, atol=1e-9)
    if bse:
        np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), ref.bse, rtol=TOL)
    assert fit.deviance == pytest.approx(ref.deviance, rel=TOL)


def test_poisson_matches_statsmodels() -> None:
    X, mu = _sim()
    y = np.random.default_rng(1).poisson(mu)
    fit = GrowthModel("poisson").fit(X, y).fit_
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-12)
    _close(fit, ref)
    assert fit.llf == pytest.approx(ref.llf, rel=TOL)
    assert fit.aic == pytest.approx(ref.aic, rel=TOL)
    np.testing.assert_allclose(list(fit.pvalues.values()), ref.pvalues, rtol=1e-5, atol=1e-300)
    ci = np.array(list(fit.conf_int().values()))
    np.testing.assert_allclose(ci, ref.conf_int(), rtol=TOL)


def test_poisson_exposure_and_frequency_weights_match_statsmodels() -> None:
    X, mu = _sim(seed=2)
    rng = np.random.default_rng(3)
    expo = rng.uniform(0.5, 3, len(mu))
    w = rng.integers(1, 4, len(mu)).astype(float)
    y = rng.poisson(mu * expo)
    fit = GrowthModel().fit(X, y, exposure=expo, weights=w).fit_
    ref = sm.GLM(
        y, sm.add_constant(X), family=sm.families.Poisson(), exposure=expo, freq_weights=w
    ).fit(tol=1e-12)
    _close(fit, ref)
    assert fit.exposure


def test_robust_hc0_matches_statsmodels() -> None:
    X, mu = _sim(seed=4)
    y = np.random.default_rng(5).negative_binomial(1.5, 1.5 / (1.5 + mu))  # overdispersed
    fit = GrowthModel(robust="HC0").fit(X, y).fit_
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-12, cov_type="HC0")
    _close(fit, ref)
    assert fit.cov_type == "HC0"
    hc1 = GrowthModel(robust="HC1").fit(X, y).fit_
    n, k = X.shape[0], X.shape[1] + 1
    np.testing.assert_allclose(hc1.cov, fit.cov * n / (n - k), rtol=1e-12)


def test_negative_binomial_dispersion_is_the_mle() -> None:
    X, mu = _sim(seed=6)
    y = np.random.default_rng(7).negative_binomial(2.0, 2.0 / (2.0 + mu))  # alpha = 0.5
    fit = GrowthModel("negative_binomial").fit(X, y).fit_
    Xc = sm.add_constant(X)
    mle = sm.NegativeBinomial(y, Xc).fit(disp=0, method="newton", tol=1e-12, maxiter=200)
    assert fit.dispersion == pytest.approx(mle.params[-1], rel=1e-6)
    np.testing.assert_allclose(fit.coef, mle.params[:-1], rtol=TOL)
    assert fit.llf == pytest.approx(mle.llf, rel=1e-9)
    assert fit.aic == pytest.approx(mle.aic, rel=1e-9)  # alpha counted as a parameter
    glm = sm.GLM(y, Xc, family=sm.families.NegativeBinomial(alpha=fit.dispersion)).fit(tol=1e-12)
    _close(fit, glm)


def test_gaussian_log_link_matches_statsmodels() -> None:
    X, mu = _sim(seed=8)
    y = mu + np.random.default_rng(9).normal(0, 0.5, len(mu))
    fit = GrowthModel("gaussian").fit(X, y).fit_
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Gaussian(sm.families.links.Log())).fit(
        tol=1e-12
    )
    _close(fit, ref)
    assert fit.dispersion == pytest.approx(ref.scale, rel=TOL)
    assert fit.aic == pytest.approx(ref.aic, rel=TOL)


def test_invalid_inputs_raise_clear_errors() -> None:
    X, mu = _sim(n=50)
    y = np.random.default_rng(0).poisson(mu).astype(float)
    with pytest.raises(ConfigError, match="family must be one of poisson, negative_binomial"):
        GrowthModel("binomial").fit(X, y)
    with pytest.raises(ConfigError, match=r"link must be 'log' \(R = exp\(a·x \+ b\)\)"):
        GrowthModel(link="identity").fit(X, y)
    with pytest.raises(DataError, match="poisson needs a non-negative target; found 1 negative"):
        GrowthModel().fit(X, np.r_[-1.0, y[1:]])
    with pytest.raises(DataError, match="target row 3: nan"):
        GrowthModel().fit(X, np.r_[y[:3], np.nan, y[4:]])
    with pytest.raises(
        DataError, match=r"exposure: row 0 is 0\.0; every value must be finite and > 0"
    ):
        GrowthModel().fit(X, y, exposure=np.r_[0.0, np.ones(49)])
    collinear = np.column_stack([X, 2 * X[:, 0]])
    with pytest.raises(
        DataError, match=r"rank deficient: columns \[.*'x0'.*'x3'.*\] are collinear"
    ):
        GrowthModel().fit(collinear, y)
    with pytest.raises(NotFittedError, match="GrowthModel is not fitted yet"):
        GrowthModel().predict(X)


@pytest.fixture(scope="module")
def hillstrom(shared_data: str) -> pd.DataFrame:
    path = os.path.join(shared_data, "hillstrom", "hillstrom.csv")
    if not os.path.exists(path):
        pytest.skip("hillstrom.csv not present")
    return pd.read_csv(path)


def test_hillstrom_poisson_visits_match_statsmodels(hillstrom: pd.DataFrame) -> None:
    feats = ["segment", "recency", "history", "channel"]
    fit = fit_growth(hillstrom, "visit", feats, reference={"segment": "No E-Mail"})
    assert fit.param_names[:3] == ("intercept", "segment=Mens E-Mail", "segment=Womens E-Mail")
    X = fit.spec.matrix(hillstrom)
    ref = sm.GLM(hillstrom["visit"].to_numpy(float), X, family=sm.families.Poisson()).fit(tol=1e-12)
    _close(fit, ref)
    assert fit.params["segment=Mens E-Mail"] > 0.4  # the e-mail raises visits


@pytest.mark.slow
def test_hillstrom_negative_binomial_spend_matches_statsmodels(hillstrom: pd.DataFrame) -> None:
    feats = ["segment", "recency", "history", "channel"]
    fit = fit_growth(
        hillstrom, "spend", feats, family="negative_binomial", reference={"segment": "No E-Mail"}
    )
    X = fit.spec.matrix(hillstrom)
    y = hillstrom["spend"].to_numpy(float)
    glm = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=fit.dispersion)).fit(tol=1e-12)
    _close(fit, glm)


def test_separation_is_a_clear_training_error() -> None:
    from bizmodel.errors import TrainingError

    rng = np.random.default_rng(0)
    g = rng.integers(0, 3, 500)
    X = np.column_stack([g == 1, g == 2]).astype(float)
    y = rng.poisson(2.0, 500).astype(float)
    y[g == 2] = 0  # level 2 never converts: its coefficient runs to -inf
    with pytest.raises(TrainingError, match=r"'level2' was still moving .*separation"):
        GrowthModel().fit(X, y, feature_names=["level1", "level2"])
