"""The growth model of the design document, ``R(x) = exp(Σ aᵢxᵢ + b)``, as a log-link GLM.

:class:`GrowthModel` is a scikit-learn style estimator; :func:`fit_growth` fits it from
observational rows (market data) and :func:`fit_from_experiments` from randomized arms whose
lever values are known. Counts (visits, signups) suit ``poisson`` or, when overdispersed,
``negative_binomial``; a continuous positive outcome suits ``gaussian`` with the log link.
An ``exposure`` column (users, days, impressions) enters as the offset ``log exposure``, so
``R`` is a rate per unit of exposure.

Richer response shapes (saturating ad spend, adstock carry-over) are transformations of a
lever column before the fit, so they can be added without changing this interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bizmodel.errors import ConfigError, DataError, NotFittedError
from bizmodel.growth.design import DesignSpec
from bizmodel.growth.families import FAMILIES
from bizmodel.growth.fit import GrowthFit, GrowthPrediction
from bizmodel.growth.glm import fit_glm

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GrowthModel", "fit_from_experiments", "fit_growth"]


def _vector(v: Any, n: int, name: str, positive: bool = False) -> np.ndarray:
    arr = np.asarray(v, dtype=float).reshape(-1)
    if arr.shape[0] != n:
        raise DataError(f"{name} has {arr.shape[0]} values for {n} rows")
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if bad.any():
        i = int(np.argmax(bad))
        need = "finite and > 0" if positive else "finite and ≥ 0"
        raise DataError(
            f"{name}: row {i} is {arr[i]}; every value must be {need} ({int(bad.sum())} bad rows)"
        )
    return arr


class GrowthModel:
    """``R(x) = exp(Σ aᵢxᵢ + b)`` fitted as a GLM with log link.

    Parameters
    ----------
    family : {"poisson", "negative_binomial", "gaussian"}
    link : {"log"}
        The only link: the design document's exponential response.
    robust : {None, "HC0", "HC1"}
        Sandwich (heteroskedasticity-robust) standard errors instead of the model-based ones.
    categorical : sequence of str
        Lever columns to one-hot encode even when numeric (object/bool/category columns of a
        DataFrame always are).
    reference : mapping of str to str, optional
        Reference (dropped) level per categorical lever, e.g. ``{"arm": "control"}``; the
        first level in sorted order by default.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, 50_000)
    >>> y = rng.poisson(np.exp(0.5 + 1.0 * x))  # true a = 1.0, b = 0.5
    >>> m = GrowthModel(family="poisson").fit(x.reshape(-1, 1), y, feature_names=["ad_spend"])
    >>> round(m.fit_.params["ad_spend"], 2), round(m.fit_.bse["ad_spend"], 3)
    (1.0, 0.009)
    """

    def __init__(
        self,
        family: str = "poisson",
        link: str = "log",
        robust: str | None = None,
        categorical: Sequence[str] = (),
        reference: Mapping[str, str] | None = None,
        tol: float = 1e-8,
        max_iter: int = 100,
    ) -> None:
        self.family = family
        self.link = link
        self.robust = robust
        self.categorical = categorical
        self.reference = reference
        self.tol = tol
        self.max_iter = max_iter

    def fit(
        self,
        X: Any,
        y: Any,
        exposure: Any = None,
        weights: Any = None,
        feature_names: Sequence[str] | None = None,
    ) -> GrowthModel:
        """Fit to levers ``X`` (DataFrame, or array without intercept) and outcome ``y``.

        ``exposure`` (> 0) enters as the offset ``log exposure``; ``weights`` are frequency
        weights (a row with weight 3 counts as three identical rows).
        """
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}; got {self.family!r}")
        if self.link != "log":
            raise ConfigError(f"link must be 'log' (R = exp(a·x + b)); got {self.link!r}")
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            spec = DesignSpec.from_frame(X, list(X.columns), self.categorical, self.reference)
            D = spec.matrix(X)
        else:
            arr = np.asarray(X, dtype=float)
            if arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            names = list(feature_names) if feature_names else [f"x{i}" for i in range(arr.shape[1])]
            if len(names) != arr.shape[1]:
                raise DataError(f"{len(names)} feature names for {arr.shape[1]} columns of X")
            if not np.isfinite(arr).all():
                r, c = np.argwhere(~np.isfinite(arr))[0]
                raise DataError(f"X row {r}, column {names[c]!r}: {arr[r, c]} is not finite")
            spec = DesignSpec(tuple(names), {})
            D = np.column_stack([np.ones(len(arr)), arr])
        n = D.shape[0]
        yv = np.asarray(y, dtype=float).reshape(-1)
        if yv.shape[0] != n:
            raise DataError(f"y has {yv.shape[0]} values for {n} rows of X")
        if not np.isfinite(yv).all():
            i = int(np.argmax(~np.isfinite(yv)))
            raise DataError(f"target row {i}: {yv[i]} (missing or infinite); drop or fill it")
        off = None if exposure is None else np.log(_vector(exposure, n, "exposure", True))
        w = None if weights is None else _vector(weights, n, "weights")
        sol = fit_glm(
            D,
            yv,
            self.family,
            offset=off,
            weights=w,
            robust=self.robust,
            names=spec.param_names,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        k = D.shape[1] + (1 if self.family == "negative_binomial" else 0)
        disp = (
            sol.alpha
            if self.family == "negative_binomial"
            else (sol.scale if self.family == "gaussian" else None)
        )
        self.spec_ = spec
        self.fit_ = GrowthFit(
            family=self.family,
            param_names=tuple(spec.param_names),
            coef=sol.beta,
            cov=sol.cov,
            dispersion=disp,
            features=spec.features,
            categorical=dict(spec.categorical),
            exposure=exposure is not None,
            n_obs=n,
            deviance=sol.deviance,
            aic=-2 * sol.llf + 2 * k,
            llf=sol.llf,
            cov_type=sol.cov_type,
            n_iter=sol.n_iter,
            extra={"df_resid": sol.df_resid, "pearson_chi2": sol.pearson_chi2},
        )
        return self

    def predict(self, X: Any, **kwargs: Any) -> GrowthPrediction:
        """:meth:`GrowthFit.predict` of the fitted model."""
        if not hasattr(self, "fit_"):
            raise NotFittedError("GrowthModel is not fitted yet; call fit(X, y) first")
        return self.fit_.predict(X, **kwargs)


def _column(data: pd.DataFrame, col: str, what: str) -> pd.Series:
    if col not in data.columns:
        raise DataError(f"{what} column {col!r} not found; columns are {list(data.columns)}")
    s = data[col]
    if s.isna().any():
        first = s.index[s.isna().to_numpy()][0]
        raise DataError(
            f"column {col!r}: {int(s.isna().sum())} missing values (first at row {first}); "
            "drop or fill them before fitting"
        )
    return s


def fit_growth(
    data: pd.DataFrame,
    target: str,
    features: Sequence[str],
    *,
    family: str = "poisson",
    exposure: str | None = None,
    weights: str | None = None,
    categorical: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    robust: str | None = None,
) -> GrowthFit:
    """Fit ``R(x)`` to observational rows: ``target`` on the lever columns ``features``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"signups": [3, 5, 4, 9, 10, 8], "plan": list("aaabbb")})
    >>> fit = fit_growth(df, "signups", ["plan"])
    >>> fit.param_names, round(fit.params["plan=b"], 4)  # log(27/12)
    (('intercept', 'plan=b'), 0.8109)
    """
    y = _column(data, target, "target")
    for f in features:
        _column(data, f, "feature")
    X = data[list(features)]
    exp_v = None if exposure is None else _column(data, exposure, "exposure").to_numpy(float)
    w_v = None if weights is None else _column(data, weights, "weights").to_numpy(float)
    model = GrowthModel(family=family, robust=robust, categorical=categorical, reference=reference)
    try:
        yv = y.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"target column {target!r} is not numeric: {exc}") from exc
    return model.fit(X, yv, exposure=exp_v, weights=w_v).fit_


def fit_from_experiments(
    data: pd.DataFrame,
    variant: str,
    target: str,
    levers: Mapping[str, Mapping[str, Any]],
    *,
    covariates: Sequence[str] = (),
    family: str = "poisson",
    exposure: str | None = None,
    categorical: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    robust: str | None = None,
) -> GrowthFit:
    """Fit ``R(x)`` from randomized arms: each arm's lever values come from ``levers``.

    ``levers`` maps an arm label to its lever settings, e.g.
    ``{"control": {"price": 10, "email": 0}, "B": {"price": 12, "email": 0}}``; every arm in
    ``data[variant]`` must be listed and all arms must set the same levers. Pre-period
    ``covariates`` (recency, history, ...) may be added for precision.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": list("AABB"), "visits": [1, 3, 4, 8]})
    >>> fit = fit_from_experiments(df, "arm", "visits", {"A": {"price": 10}, "B": {"price": 9}})
    >>> round(fit.elasticity("price"), 4)  # log(6/2) per unit of price, sign flipped
    -1.0986
    """
    arms = _column(data, variant, "variant").astype(str)
    if not levers:
        raise ConfigError("levers must map each arm to its lever values")
    names = {k for v in levers.values() for k in v}
    for arm, values in levers.items():
        if set(values) != names:
            raise ConfigError(
                f"arm {arm!r} sets levers {sorted(values)}; every arm must set {sorted(names)}"
            )
    unknown = sorted(set(arms.unique()) - {str(a) for a in levers})
    if unknown:
        raise DataError(
            f"column {variant!r} has arms {unknown} without lever values; levers are given for "
            f"{sorted(str(a) for a in levers)}"
        )
    clash = [c for c in names if c in data.columns]
    if clash:
        raise DataError(f"lever names {clash} clash with data columns; rename them")
    frame = data.copy()
    lever_names = sorted(names)
    by_arm = {str(a): v for a, v in levers.items()}
    for lev in lever_names:
        frame[lev] = arms.map({a: v[lev] for a, v in by_arm.items()})
    return fit_growth(
        frame,
        target,
        [*lever_names, *covariates],
        family=family,
        exposure=exposure,
        categorical=categorical,
        reference=reference,
        robust=robust,
    )
