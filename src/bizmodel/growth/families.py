"""Distribution families of the growth GLM, all with the log link ``μ = exp(η)``.

==================  =================  ====================================================
family              variance V(μ)      unit deviance d(y, μ)
==================  =================  ====================================================
poisson             μ                  2 [y log(y/μ) − (y − μ)]
negative_binomial   μ + αμ² (NB2)      2 [y log(y/μ) − (y + 1/α) log((1 + αy)/(1 + αμ))]
gaussian            φ (constant)       (y − μ)²
==================  =================  ====================================================

Log-likelihoods are those of statsmodels' GLM families, so deviance, log-likelihood and AIC
agree with ``statsmodels.genmod.families``; frequency weights multiply each row's term.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["FAMILIES", "deviance", "loglik", "variance"]

FAMILIES = ("poisson", "negative_binomial", "gaussian")


def variance(family: str, mu: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """``V(μ)`` of ``family`` (without the dispersion φ)."""
    if family == "poisson":
        return mu
    if family == "negative_binomial":
        return mu + alpha * mu * mu
    return np.ones_like(mu)


def _ylogy_over(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    # y log(y/μ), with 0 log 0 = 0
    return special.xlogy(y, y) - special.xlogy(y, mu)


def deviance(
    family: str, y: np.ndarray, mu: np.ndarray, w: np.ndarray, alpha: float = 0.0
) -> float:
    """Weighted deviance ``Σ wᵢ d(yᵢ, μᵢ)`` (table in the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> y, mu, w = np.array([0.0, 2.0]), np.array([1.0, 2.0]), np.ones(2)
    >>> deviance("poisson", y, mu, w)
    2.0
    """
    if family == "poisson":
        d = 2 * (_ylogy_over(y, mu) - (y - mu))
    elif family == "negative_binomial":
        r = 1.0 / alpha
        d = 2 * (_ylogy_over(y, mu) - (y + r) * (np.log1p(alpha * y) - np.log1p(alpha * mu)))
    else:
        d = (y - mu) ** 2
    return float(np.dot(w, d))


def _log_factorial(y: np.ndarray) -> np.ndarray:
    # log Γ(y + 1); counts below 10⁶ go through a lookup table (much faster than gammaln)
    top = float(y.max()) if y.size else 0.0
    if 0 <= top < 1e6 and np.array_equal(y, np.floor(y)):
        table = special.gammaln(np.arange(int(top) + 1) + 1.0)
        return table[y.astype(np.int64)]
    return special.gammaln(y + 1)


def loglik(
    family: str,
    y: np.ndarray,
    mu: np.ndarray,
    w: np.ndarray,
    alpha: float = 0.0,
    scale: float = 1.0,
) -> float:
    """Weighted log-likelihood (statsmodels' GLM ``loglike``).

    * Poisson: ``Σ w [y log μ − μ − log Γ(y + 1)]``
    * NB2: ``Σ w [log Γ(y + 1/α) − log Γ(1/α) − log Γ(y + 1) + y log(αμ/(1 + αμ))
      − log(1 + αμ)/α]``
    * Gaussian: ``Σ w [−(y − μ)²/(2φ) − log(2πφ)/2]``
    """
    if family == "poisson":
        ll = y * np.log(mu) - mu - _log_factorial(y)  # μ > 0 always
    elif family == "negative_binomial":
        r = 1.0 / alpha
        ll = (
            special.gammaln(y + r)
            - special.gammaln(r)
            - _log_factorial(y)
            + special.xlogy(y, alpha * mu / (1 + alpha * mu))
            - r * np.log1p(alpha * mu)
        )
    else:
        ll = -((y - mu) ** 2) / (2 * scale) - 0.5 * math.log(2 * math.pi * scale)
    return float(np.dot(w, ll))


def nb_profile_alpha(
    y: np.ndarray, mu: np.ndarray, w: np.ndarray, alpha0: float, tol: float = 1e-9
) -> float:
    """MLE of the NB2 dispersion α for fixed means μ: Newton on ``log r``, ``r = 1/α``.

    With ``ℓ(r) = Σ w [log Γ(y + r) − log Γ(r) + r log(r/(r + μ)) + y log(μ/(r + μ)) + c]``:

        ℓ'(r)  = Σ w [ψ(y + r) − ψ(r) + log(r/(r + μ)) + (μ − y)/(r + μ)]
        ℓ''(r) = Σ w [ψ'(y + r) − ψ'(r) + 1/r − 1/(r + μ) − (μ − y)/(r + μ)²]

    The search is bounded to ``α ∈ [1e-8, 1e5]``; α at the lower bound means no
    overdispersion (the Poisson model fits as well).
    """
    lo, hi = math.log(1e-5), math.log(1e8)  # bounds on log r
    # Terms in Γ, ψ, ψ' of y + r vanish where y = 0 and repeat for equal y: evaluate them once
    # per distinct positive y (weighted by the summed w), which makes counts and
    # zero-inflated outcomes cheap.
    pos = y > 0
    vals, inv = np.unique(y[pos], return_inverse=True)
    wv = np.bincount(inv, weights=w[pos], minlength=len(vals))

    def ll(t: float) -> float:
        r = math.exp(t)
        gam = float(np.dot(wv, special.gammaln(vals + r) - special.gammaln(r)))
        return gam + float(np.dot(w, r * np.log(r / (r + mu)) + special.xlogy(y, mu / (r + mu))))

    t = min(max(-math.log(alpha0), lo), hi)
    f = ll(t)
    for _ in range(100):
        r = math.exp(t)
        rm = r + mu
        dig = float(np.dot(wv, special.digamma(vals + r) - special.digamma(r)))
        tri = float(np.dot(wv, special.polygamma(1, vals + r) - special.polygamma(1, r)))
        g = dig + float(np.dot(w, np.log(r / rm) + (mu - y) / rm))
        h = tri + float(np.dot(w, 1 / r - 1 / rm - (mu - y) / rm**2))
        g_t, h_t = r * g, r * r * h + r * g
        step = -g_t / h_t if h_t < 0 else math.copysign(1.0, g_t)
        step = max(min(step, 5.0), -5.0)
        if h_t < 0 and abs(step) < 0.5:  # plain Newton near the optimum, no line search
            t_new = min(max(t + step, lo), hi)
            done = abs(t_new - t) < tol
            t = t_new
            if done:
                break
            f = ll(t) if abs(step) > 1e-3 else f
            continue
        while True:
            t_new = min(max(t + step, lo), hi)
            f_new = ll(t_new)
            if f_new >= f - 1e-12 * abs(f) or abs(step) < 1e-14:
                break
            step /= 2
        done = abs(t_new - t) < tol
        t, f = t_new, f_new
        if done or t in (lo, hi):
            break
    return math.exp(-t)
