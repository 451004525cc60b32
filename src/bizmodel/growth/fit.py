"""A fitted growth model ``R(x) = exp(Σ aᵢxᵢ + b)``: estimates, uncertainty, predictions, JSON.

The JSON written by :meth:`GrowthFit.to_json` is the contract with the optimizer and the
dashboard (``format`` ``bizmodel-growth-fit``, ``format_version`` 1)::

    {"format": "bizmodel-growth-fit", "format_version": 1, "family": ..., "link": "log",
     "param_names": ["intercept", ...], "params": [...], "cov": [[...]],
     "dispersion": float | null, "features": [...], "categorical": {lever: [levels]},
     "exposure": bool, "n_obs": int, "deviance": float, "aic": float}

``dispersion`` is α of the negative binomial, φ of the Gaussian family, null for Poisson.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bizmodel.errors import ConfigError, DataError
from bizmodel.growth.design import DesignSpec

__all__ = ["FORMAT", "FORMAT_VERSION", "GrowthFit", "GrowthPrediction"]

FORMAT = "bizmodel-growth-fit"
FORMAT_VERSION = 1
_KEYS = (
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
)


@dataclass(frozen=True, eq=False)
class GrowthPrediction:
    """Predicted mean ``exp(xβ̂ + log exposure)`` and its confidence band
    ``exp(xβ̂ ± z se(xβ̂))`` (``lower``/``upper`` are None without ``interval=True``)."""

    mean: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "lower": None if self.lower is None else self.lower.tolist(),
            "upper": None if self.upper is None else self.upper.tolist(),
            "alpha": self.alpha,
        }


@dataclass(frozen=True, eq=False)
class GrowthFit:
    """Result of :meth:`bizmodel.growth.GrowthModel.fit` (statsmodels-style results object).

    Inference uses the normal distribution, as statsmodels' GLM results do.
    """

    family: str
    param_names: tuple[str, ...]
    coef: np.ndarray  # estimates in the order of param_names (intercept first)
    cov: np.ndarray
    dispersion: float | None
    features: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]]
    exposure: bool
    n_obs: int
    deviance: float
    aic: float
    link: str = "log"
    llf: float | None = None
    cov_type: str = "nonrobust"
    n_iter: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- estimates
    @property
    def params(self) -> dict[str, float]:
        """The aᵢ (by column name) and b (``intercept``)."""
        return dict(zip(self.param_names, map(float, self.coef), strict=True))

    @property
    def bse(self) -> dict[str, float]:
        """Standard errors ``√diag(cov)``."""
        return dict(zip(self.param_names, map(float, np.sqrt(np.diag(self.cov))), strict=True))

    @property
    def pvalues(self) -> dict[str, float]:
        """Two-sided p-values of ``H₀: aᵢ = 0`` (z-test)."""
        se = np.sqrt(np.diag(self.cov))
        p = 2 * stats.norm.sf(np.abs(self.coef / se))
        return dict(zip(self.param_names, map(float, p), strict=True))

    def conf_int(self, alpha: float = 0.05) -> dict[str, tuple[float, float]]:
        """``aᵢ ± z₁₋α/₂ se(aᵢ)`` for every parameter."""
        if not 0 < alpha < 1:
            raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
        z = float(stats.norm.ppf(1 - alpha / 2))
        se = np.sqrt(np.diag(self.cov))
        return {
            n: (float(c - z * s), float(c + z * s))
            for n, c, s in zip(self.param_names, self.coef, se, strict=True)
        }

    @property
    def spec(self) -> DesignSpec:
        return DesignSpec(tuple(self.features), dict(self.categorical))

    # ----------------------------------------------------------------- using it
    def _design(self, X: Any) -> np.ndarray:
        if isinstance(X, np.ndarray):
            k = len(self.param_names) - 1
            X2 = X.reshape(1, -1) if X.ndim == 1 else X
            if X2.shape[1] != k:
                raise DataError(
                    f"X has {X2.shape[1]} columns; this fit needs {k}: {list(self.param_names[1:])}"
                )
            return np.column_stack([np.ones(len(X2)), X2.astype(float)])
        return self.spec.matrix(X)

    def predict(
        self,
        X: Any,
        *,
        exposure: np.ndarray | float | None = None,
        interval: bool = False,
        alpha: float = 0.05,
    ) -> GrowthPrediction:
        """Expected outcome ``R(x) = exp(Σ aᵢxᵢ + b) · exposure`` for rows of levers.

        ``X`` is a DataFrame / dict of lever columns (categoricals by level name), or an
        array of the encoded columns without the intercept. Without ``exposure`` a fit with
        exposure predicts the rate per unit of exposure.

        Examples
        --------
        >>> import numpy as np
        >>> fit = GrowthFit("poisson", ("intercept", "x"), np.array([0.0, 1.0]),
        ...                 np.diag([0.01, 0.01]), None, ("x",), {}, False, 10, 0.0, 0.0)
        >>> p = fit.predict({"x": [0.0, 1.0]}, interval=True)
        >>> np.round(p.mean, 4).tolist(), np.round(p.lower, 4).tolist()
        ([1.0, 2.7183], [0.822, 2.0602])
        """
        D = self._design(X)
        eta = D @ self.coef
        if exposure is not None:
            e = np.asarray(exposure, dtype=float)
            if np.any(e <= 0):
                raise DataError("exposure must be > 0")
            eta = eta + np.log(e)
        mean = np.exp(eta)
        if not interval:
            return GrowthPrediction(mean, None, None, alpha)
        se = np.sqrt(np.einsum("ij,jk,ik->i", D, self.cov, D))
        z = float(stats.norm.ppf(1 - alpha / 2))
        return GrowthPrediction(mean, np.exp(eta - z * se), np.exp(eta + z * se), alpha)

    def elasticity(self, lever: str, at: float | None = None) -> float:
        """``∂ log R / ∂xᵢ = aᵢ`` (semi-elasticity); with ``at`` the point elasticity
        ``∂ log R / ∂ log xᵢ = aᵢ · at``. A categorical level is named ``"lever=level"``."""
        if lever in self.categorical:
            raise ConfigError(
                f"{lever!r} is categorical; ask for one level: "
                f"{[n for n in self.param_names if n.startswith(lever + '=')]}"
            )
        if lever not in self.param_names or lever == "intercept":
            raise ConfigError(f"unknown lever {lever!r}; levers are {list(self.param_names[1:])}")
        a = float(self.coef[self.param_names.index(lever)])
        return a if at is None else a * at

    # ----------------------------------------------------------------- output
    def summary(self) -> str:
        """A statsmodels-like text table of the coefficients."""
        ci = self.conf_int()
        bse, pv = self.bse, self.pvalues
        disp = "" if self.dispersion is None else f", dispersion {self.dispersion:.6g}"
        lines = [
            f"Growth model R(x) = exp(Σ a_i x_i + b): {self.family} GLM, log link, "
            f"{self.n_obs} rows{', exposure offset' if self.exposure else ''}",
            f"deviance {self.deviance:.6g}, AIC {self.aic:.6g}{disp}, covariance {self.cov_type}",
            f"{'':<28}{'coef':>11}{'std err':>11}{'z':>9}{'P>|z|':>10}{'[0.025':>11}{'0.975]':>11}",
        ]
        for n, c in self.params.items():
            lo, hi = ci[n]
            z = c / bse[n] if bse[n] > 0 else math.nan
            lines.append(
                f"{n[:28]:<28}{c:>11.4g}{bse[n]:>11.4g}{z:>9.3f} {pv[n]:>9.3g}"
                f"{lo:>11.4g}{hi:>11.4g}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract as a dict (see the module docstring)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "link": self.link,
            "param_names": list(self.param_names),
            "params": [float(v) for v in self.coef],
            "cov": [[float(v) for v in row] for row in self.cov],
            "dispersion": None if self.dispersion is None else float(self.dispersion),
            "features": list(self.features),
            "categorical": {k: list(v) for k, v in self.categorical.items()},
            "exposure": bool(self.exposure),
            "n_obs": int(self.n_obs),
            "deviance": float(self.deviance),
            "aic": float(self.aic),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The fit as JSON text; with ``path`` also written there atomically."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(prefix=".growth-fit-", suffix=".json", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> GrowthFit:
        """Load a fit from JSON text or from a file written by :meth:`to_json`."""
        text, where = str(source), None
        if not text.lstrip().startswith("{"):
            where = text
            try:
                with open(text, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise DataError(f"cannot read growth fit: {exc.strerror}", file=where) from exc
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc}", file=where) from exc
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError(f"not a growth fit: 'format' must be {FORMAT!r}", file=where)
        if d.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"unsupported format_version {d.get('format_version')!r}; this bizmodel reads "
                f"{FORMAT_VERSION}",
                file=where,
            )
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise DataError(f"growth fit lacks keys {missing}", file=where)
        k = len(d["param_names"])
        cov = np.asarray(d["cov"], dtype=float)
        if len(d["params"]) != k or cov.shape != (k, k):
            raise DataError(
                f"growth fit has {k} param_names, {len(d['params'])} params and a "
                f"{cov.shape} cov; they must match",
                file=where,
            )
        return cls(
            family=d["family"],
            param_names=tuple(d["param_names"]),
            coef=np.asarray(d["params"], dtype=float),
            cov=cov,
            dispersion=d["dispersion"],
            features=tuple(d["features"]),
            categorical={kk: tuple(v) for kk, v in d["categorical"].items()},
            exposure=bool(d["exposure"]),
            n_obs=int(d["n_obs"]),
            deviance=float(d["deviance"]),
            aic=float(d["aic"]),
            link=d["link"],
        )
