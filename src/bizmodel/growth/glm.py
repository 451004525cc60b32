"""The numerical core: a log-link GLM fitted by iteratively reweighted least squares.

With ``η = Xβ + offset``, ``μ = exp(η)`` and frequency weights ``w``, each step solves

    (Xᵀ W X) β_new = Xᵀ W z,   W = w μ² / V(μ),   z = η − offset + (y − μ)/μ

which is Fisher scoring — Newton's method on the exact gradient ``Xᵀ w (y − μ) μ / V(μ)``
with the expected Hessian ``−Xᵀ W X`` (the observed one for Poisson, whose log link is
canonical). A step that raises the deviance is halved. Everything is vectorised over rows;
one step costs one ``exp`` and one ``n × k`` weighted cross-product.

Covariance of β̂: ``φ (Xᵀ W X)⁻¹`` (φ = 1 for Poisson and NB, Pearson χ²/(n − k) for the
Gaussian family, as statsmodels), or the sandwich ``(XᵀWX)⁻¹ [Σ xᵢxᵢᵀ sᵢ²] (XᵀWX)⁻¹`` with
``sᵢ = wᵢ (yᵢ − μᵢ) μᵢ / V(μᵢ)`` (HC0; HC1 multiplies by ``n/(n − k)``).

For the negative binomial the dispersion α is estimated by maximum likelihood, alternating
IRLS for β given α with the profile Newton step of
:func:`bizmodel.growth.families.nb_profile_alpha` for α given β until both settle (the
joint MLE, as statsmodels' discrete ``NegativeBinomial``); the reported covariance of β̂ is
the GLM one at the estimated α.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bizmodel.errors import ConfigError, DataError, TrainingError
from bizmodel.growth.families import FAMILIES, deviance, loglik, nb_profile_alpha, variance

__all__ = ["GLMSolution", "fit_glm"]

_ETA_MAX = 700.0  # exp(700) is finite in float64


@dataclass(frozen=True, eq=False)
class GLMSolution:
    """Everything the IRLS core computes (arrays in column order of ``X``)."""

    beta: np.ndarray
    cov: np.ndarray
    deviance: float
    llf: float
    scale: float
    alpha: float | None
    n_iter: int
    df_resid: float
    pearson_chi2: float
    cov_type: str


class _Problem:
    """Data of one fit plus the constants and buffers that make each IRLS step cheap."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        off: np.ndarray | None,
        w: np.ndarray,
        family: str,
        alpha: float = 0.0,
    ) -> None:
        self.X, self.y, self.off, self.w, self.family = X, y, off, w, family
        self.buf = np.empty_like(X)
        wy = w * y
        self.wy = wy
        self.sum_wy = float(wy.sum())
        # Σ w y log y with 0 log 0 = 0 (plain log is several times faster than xlogy)
        self.c_ylogy = float(np.dot(wy, np.log(np.where(y > 0, y, 1.0))))
        self.set_alpha(alpha)

    def set_alpha(self, alpha: float) -> None:
        self.alpha = alpha
        if self.family == "negative_binomial":
            self.c_nb = float(np.dot(self.w * (self.y + 1 / alpha), np.log1p(alpha * self.y)))

    def eta(self, beta: np.ndarray) -> np.ndarray:
        e = self.X @ beta
        return e if self.off is None else e + self.off

    def deviance(self, eta: np.ndarray, mu: np.ndarray) -> float:
        # y log(y/mu) = y log y - y eta (log mu = eta), so only O(n) dot products remain.
        w, y = self.w, self.y
        if self.family == "poisson":
            return 2 * (self.c_ylogy - float(np.dot(self.wy, eta)) - self.sum_wy + float(w @ mu))
        if self.family == "negative_binomial":
            a = self.alpha
            tail = float(np.dot(self.w * (y + 1 / a), np.log1p(a * mu)))
            return 2 * (self.c_ylogy - float(np.dot(self.wy, eta)) - self.c_nb + tail)
        return deviance("gaussian", y, mu, w)

    def normal_equations(
        self, eta: np.ndarray, mu: np.ndarray, beta: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Xᵀ W X`` and ``Xᵀ W z`` (W, z in the module docstring).

        When ``η − offset = Xβ``, ``Xᵀ W z = (XᵀWX) β + Xᵀ [w μ (y − μ) / V(μ)]``, which saves
        several passes over the rows.
        """
        w, y = self.w, self.y
        if self.family == "poisson":
            wt = w * mu
            resid = w * (y - mu)  # w μ (y − μ) / V with V = μ
        else:
            wt = w * mu * mu / variance(self.family, mu, self.alpha)
            resid = wt * (y - mu) / mu
        np.multiply(self.X, wt[:, None], out=self.buf)
        A = self.buf.T @ self.X
        if beta is not None:
            return A, A @ beta + self.X.T @ resid
        lin = eta if self.off is None else eta - self.off
        return A, self.X.T @ (wt * lin + resid)


def _check_rank(A: np.ndarray, names: Sequence[str]) -> None:
    d = np.sqrt(np.clip(np.diag(A), 1e-300, None))
    R = A / np.outer(d, d)
    vals, vecs = np.linalg.eigh(R)
    if vals[0] > 1e-11 * max(vals[-1], 1.0) and np.all(np.diag(A) > 0):
        return
    v = vecs[:, 0]
    cols = [names[i] for i in np.argsort(-np.abs(v)) if abs(v[i]) > 0.1]
    raise DataError(
        f"the design matrix is rank deficient: columns {cols} are collinear (or constant); "
        "drop one of them or merge categorical levels"
    )


_SUBSAMPLE_ABOVE = 200_000  # rows; larger fits start from a fit on every k-th row


def _start(pb: _Problem) -> tuple[np.ndarray, np.ndarray]:
    y, w, off = pb.y, pb.w, pb.off
    if off is None:
        mu = (y + np.average(y, weights=w)) / 2
    else:
        rate = np.dot(w, y) / np.dot(w, np.exp(off))
        mu = (y + rate * np.exp(off)) / 2
    mu = np.maximum(mu, 1e-8 * max(float(np.abs(y).max()), 1.0))
    return np.log(mu), mu


def _irls(
    pb: _Problem,
    beta0: np.ndarray | None,
    names: Sequence[str],
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """IRLS from ``beta0`` (or from μ₀ = (y + ȳ)/2 as statsmodels); returns the last
    ``XᵀWX`` too, whose inverse is the covariance (as in statsmodels' last WLS step).

    The step size shrinks quadratically near the optimum, so stopping when the largest
    change is below ``tol·(1 + max|β|)`` leaves an error of order ``tol²``.
    """
    n = pb.X.shape[0]
    beta: np.ndarray | None = None
    if beta0 is None and n > _SUBSAMPLE_ABOVE:
        # Newton converges quadratically from a good start: fit every k-th row first, then
        # the full data needs only two or three steps.
        k = n // (_SUBSAMPLE_ABOVE // 4)
        off_s = None if pb.off is None else pb.off[::k]
        sub = _Problem(pb.X[::k], pb.y[::k], off_s, pb.w[::k], pb.family, pb.alpha)
        beta0 = _irls(sub, None, names, 1e-6, max_iter)[0]
    if beta0 is None:
        eta, mu = _start(pb)
    else:
        beta = beta0
        eta = pb.eta(beta)
        mu = np.exp(np.minimum(eta, _ETA_MAX))
    dev = pb.deviance(eta, mu)
    for it in range(1, max_iter + 1):
        A, b = pb.normal_equations(eta, mu, beta)
        if it == 1:
            _check_rank(A, names)
        try:
            new = np.linalg.solve(A, b)
        except np.linalg.LinAlgError as exc:  # pragma: no cover - caught by _check_rank
            raise DataError(f"the weighted design matrix is singular: {exc}") from exc
        for _ in range(60):  # step halving while the deviance goes up
            eta_n = pb.eta(new)
            mu_n = np.exp(np.minimum(eta_n, _ETA_MAX))
            dev_n = pb.deviance(eta_n, mu_n)
            if beta is None or (math.isfinite(dev_n) and dev_n <= dev * (1 + 1e-12) + 1e-12):
                break
            new = (beta + new) / 2
        step = np.full_like(new, np.inf) if beta is None else np.abs(new - beta)
        change = float(np.max(step))
        beta, eta, mu, dev = new, eta_n, mu_n, dev_n
        if change < tol * (1 + float(np.max(np.abs(beta)))):
            return beta, eta, mu, A, it
    assert beta is not None
    worst = names[int(np.argmax(step))] if len(names) == len(step) else "?"
    raise TrainingError(
        f"IRLS did not converge in {max_iter} iterations (family {pb.family}); "
        f"{worst!r} was still moving (coefficient {float(beta[int(np.argmax(step))]):.3g}): "
        "a lever or level may predict zeros exactly (separation); drop or merge it"
    )


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    family: str = "poisson",
    *,
    offset: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    robust: str | None = None,
    names: Sequence[str] | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> GLMSolution:
    """Fit ``E[y] = exp(Xβ + offset)`` (``X`` includes the intercept column).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0.0, 0.0, 1.0, 1.0]])
    >>> s = fit_glm(X, np.array([1.0, 3.0, 4.0, 8.0]))
    >>> np.round(np.exp(s.beta), 6)  # control mean 2, rate ratio 6/2
    array([2., 3.])
    """
    if family not in FAMILIES:
        raise ConfigError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    if robust not in (None, "HC0", "HC1"):
        raise ConfigError(f"robust must be None, 'HC0' or 'HC1'; got {robust!r}")
    n, k = X.shape
    names = list(names) if names is not None else [f"x{i}" for i in range(k)]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if n <= k:
        raise DataError(f"{n} rows for {k} parameters; need more rows than parameters")
    if (family == "poisson" or family == "negative_binomial") and np.any(y < 0):
        raise DataError(
            f"{family} needs a non-negative target; found {int((y < 0).sum())} negative values"
        )
    if np.dot(w, y) <= 0:
        raise DataError("the target sums to ≤ 0; a log-link growth model needs a positive mean")
    alpha = 0.0
    if family == "negative_binomial":
        pb = _Problem(X, y, offset, w, "poisson")
        beta, eta, mu, A, it = _irls(pb, None, names, tol, max_iter)
        alpha = nb_profile_alpha(y, mu, w, 0.1)
        pb = _Problem(X, y, offset, w, family, alpha)
        for _ in range(200):
            pb.set_alpha(alpha)
            beta, eta, mu, A, its = _irls(pb, beta, names, tol, max_iter)
            it += its
            new_alpha = nb_profile_alpha(y, mu, w, alpha)
            at_bound = new_alpha <= 1.0000001e-8 and alpha <= 1.0000001e-8
            done = at_bound or abs(math.log(new_alpha) - math.log(alpha)) < 1e-8
            alpha = new_alpha
            if done:
                break
        pb.set_alpha(alpha)
        beta, eta, mu, A, its = _irls(pb, beta, names, tol, max_iter)
        it += its
    else:
        pb = _Problem(X, y, offset, w, family)
        beta, eta, mu, A, it = _irls(pb, None, names, tol, max_iter)
    a_inv = np.linalg.inv(A)
    a_inv = (a_inv + a_inv.T) / 2
    v = variance(family, mu, alpha)
    pearson = float(np.dot(w, (y - mu) ** 2 / v))
    df_resid = float(w.sum()) - k
    scale = pearson / df_resid if family == "gaussian" else 1.0
    if robust is None:
        cov, cov_type = scale * a_inv, "nonrobust"
    else:
        s = w * (y - mu) * mu / v
        xs = X * s[:, None]
        cov = a_inv @ (xs.T @ xs) @ a_inv
        if robust == "HC1":
            cov = cov * n / (n - k)
        cov_type = robust
    dev = pb.deviance(eta, mu)
    llf = loglik(family, y, mu, w, alpha, scale)
    return GLMSolution(
        beta=beta,
        cov=cov,
        deviance=dev,
        llf=llf,
        scale=scale,
        alpha=alpha if family == "negative_binomial" else None,
        n_iter=it,
        df_resid=df_resid,
        pearson_chi2=pearson,
        cov_type=cov_type,
    )
