"""Trust-region Newton with exact Hessians for a box: ``min f(u)`` subject to ``lo <= u <= hi``.

Each iteration asks for ``f``, its gradient ``g`` and Hessian ``H`` at one point (one
evaluation: :class:`~bizmodel.optimize.dual.Dual2` gives all three in a single walk) and

1. fixes the *active* variables: those at a bound whose gradient pushes outwards
   (``u_i = lo_i, g_i > 0`` or ``u_i = hi_i, g_i < 0``); the rest are *free*;
2. solves the trust-region subproblem on the free variables exactly (Moré–Sorensen via an
   eigendecomposition, so indefinite ``H`` is fine)::

       min_s  m(s) = gᵀs + ½ sᵀHs   subject to  ‖s‖₂ <= Δ
       s(λ) = -(H + λI)⁻¹ g,  λ >= max(0, -λ_min(H)),  λ (‖s(λ)‖ - Δ) = 0

3. projects the trial point onto the box, ``d = P(u + s) - u``, and compares the actual with
   the predicted decrease, ``ρ = (f(u) - f(u + d)) / (-m(d))``: the step is taken when
   ``ρ > η = 10⁻⁴``; ``Δ`` shrinks to ``‖d‖/4`` when ``ρ < 1/4`` and doubles when ``ρ > 3/4``
   and the step reached the region's edge.

It stops when the projected gradient ``‖g_free‖_∞ <= gtol``, when the model's predicted
decrease is below rounding (``10⁻¹⁵ max(1, |f|)``), when the trust region falls below ``xtol``
or after ``maxiter`` evaluations. Near a strict local minimum with an
identified active set the steps are pure Newton steps, so convergence is quadratic.

Examples
--------
>>> import numpy as np
>>> def f(u):   # Rosenbrock, minimum at (1, 1) inside the box
...     x, y = u
...     v = (1 - x) ** 2 + 100 * (y - x * x) ** 2
...     g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
...     H = np.array([[2 - 400 * (y - 3 * x * x), -400 * x], [-400 * x, 200.0]])
...     return v, g, H
>>> res = trust_region_box(f, np.array([-1.2, 1.0]), np.array([-2.0, -2.0]), np.array([2.0, 2.0]))
>>> np.round(res.x, 8).tolist(), res.nfev < 40
([1.0, 1.0], True)
>>> res = trust_region_box(f, np.array([0.0, 0.0]), np.array([-2.0, -2.0]), np.array([0.5, 2.0]))
>>> np.round(res.x, 6).tolist()   # x capped at 0.5: y = x² = 0.25
[0.5, 0.25]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FGH = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class BoxResult:
    """End point, its value, evaluations used and why it stopped."""

    x: np.ndarray
    fun: float
    nfev: int
    message: str


def tr_subproblem(g: np.ndarray, H: np.ndarray, delta: float) -> np.ndarray:
    """``argmin gᵀs + ½ sᵀHs`` over ``‖s‖₂ <= delta``, exactly (small dense ``H``).

    With ``H = Q diag(λ_i) Qᵀ`` and ``γ = Qᵀg`` the step is ``s(μ) = -Σ γ_i q_i / (λ_i + μ)``;
    ``μ = 0`` if ``H`` is positive definite and the Newton step fits, else the root of
    ``‖s(μ)‖ = Δ`` with ``μ > -λ_min`` (the secular equation, solved by safeguarded Newton on
    ``1/‖s(μ)‖ - 1/Δ``). In the *hard case* (``γ`` orthogonal to the lowest eigenvector) the
    step is completed along that eigenvector to the boundary.

    Examples
    --------
    >>> tr_subproblem(np.array([1.0, 0.0]), np.diag([2.0, 1.0]), 10.0).tolist()  # Newton step
    [-0.5, -0.0]
    >>> np.round(tr_subproblem(np.array([1.0, 0.0]), np.diag([-1.0, 1.0]), 2.0), 12).tolist()
    [-2.0, -0.0]
    """
    with np.errstate(all="ignore"):  # d = λ_i + μ may reach 0 near the hard case
        return _tr_subproblem(g, H, delta)


def _tr_subproblem(g: np.ndarray, H: np.ndarray, delta: float) -> np.ndarray:
    lam, Q = np.linalg.eigh(0.5 * (H + H.T))
    gam = Q.T @ g
    lo = lam[0]
    if lo > 0:
        s = -gam / lam
        if np.linalg.norm(s) <= delta:
            return Q @ s
    # secular equation in mu > max(0, -lo)
    floor = max(0.0, -lo)
    gnorm = float(np.linalg.norm(gam))
    lowest = np.abs(lam - lo) <= 1e-12 * max(1.0, abs(lo))
    seen = np.abs(gam) > 1e-14 * max(gnorm, 1e-300)  # g has a component along q_i
    d0 = lam + floor
    s0 = np.where(lowest, 0.0, -gam / np.where(lowest, 1.0, d0))
    if lo > 0 or np.any(seen & lowest) or float(np.linalg.norm(s0)) >= delta:
        # easy case: ‖s(mu)‖ decreases from +inf (mu -> floor) to 0 on (floor, inf)
        left, right = floor, floor + gnorm / delta  # ‖s(right)‖ <= Δ
        mu = right
        for _ in range(200):
            d = lam + mu
            ns = float(np.linalg.norm(gam / d))
            if not math.isfinite(ns):
                left = mu
                mu = 0.5 * (left + right)
                continue
            if abs(ns - delta) <= 1e-13 * delta or right - left <= 1e-15 * right:
                break
            if ns > delta:
                left = mu
            else:
                right = mu
            # Newton on phi(mu) = 1/‖s‖ - 1/Δ (nearly linear in mu), bisection if it leaves
            # the bracket
            dns = -float(np.sum(gam**2 / d**3)) / ns  # d‖s‖/dmu
            mu_new = mu - (1.0 / ns - 1.0 / delta) / (-dns / ns**2)
            mu = mu_new if left < mu_new < right else 0.5 * (left + right)
        d = lam + mu
        s = np.where(d > 0, -gam / np.where(d > 0, d, 1.0), 0.0)
        ns = float(np.linalg.norm(s))
        if ns > delta:  # never leave the region
            s *= delta / ns
        elif ns < delta * (1 - 1e-9) and lo < 0:  # nearly hard: use the negative curvature
            s = _to_boundary(s, gam, lam, delta)
        return Q @ s
    # hard case: s = -(H + floor I)^+ g plus a component along the lowest eigenvector
    return Q @ _to_boundary(s0, gam, lam, delta)


def _to_boundary(s: np.ndarray, gam: np.ndarray, lam: np.ndarray, delta: float) -> np.ndarray:
    """``s + t e₀`` with ``‖s + t e₀‖ = Δ`` (eigen-coordinates), the root of lower model value.

    ``t² + 2 t s₀ + ‖s‖² - Δ² = 0``; the model is ``γᵀs + ½ Σ λ_i s_i²``.
    """
    disc = s[0] ** 2 - float(s @ s) + delta**2
    if disc < 0:
        return s
    best, best_m = s, math.inf
    for t in (-s[0] + math.sqrt(disc), -s[0] - math.sqrt(disc)):
        v = s.copy()
        v[0] += t
        m = float(gam @ v + 0.5 * np.sum(lam * v * v))
        if m < best_m:
            best, best_m = v, m
    return best


def trust_region_box(
    fgh: FGH,
    x0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    delta0: float | None = None,
    maxiter: int = 200,
    gtol: float = 1e-12,
    xtol: float = 1e-14,
) -> BoxResult:
    """Minimise ``f`` over the box ``[lo, hi]`` by the method of the module docstring.

    Parameters
    ----------
    fgh : callable
        ``u -> (f, gradient, Hessian)``; a non-finite ``f`` is treated as a rejected step.
    x0 : ndarray
        Start point (projected onto the box).
    lo, hi : ndarray
        Bounds, ``lo <= hi``.
    delta0 : float, optional
        First trust-region radius; default a quarter of the box's diagonal.
    maxiter : int
        Evaluations at most (each is one call of ``fgh``).
    gtol : float
        Stop when the projected gradient's largest entry is at most ``gtol``.
    xtol : float
        Stop when the radius falls below ``xtol`` times the box diagonal.

    Returns
    -------
    BoxResult
        The best point found (always within the box).
    """
    x = np.clip(np.asarray(x0, dtype=float), lo, hi)
    f, g, H = fgh(x)
    nfev = 1
    diag = float(np.linalg.norm(hi - lo)) or 1.0
    delta = 0.25 * diag if delta0 is None else float(delta0)
    if not math.isfinite(f):
        return BoxResult(x, f, nfev, "start not finite")
    message = "maxiter"
    for _ in range(4 * maxiter):  # rejected-before-evaluation steps do not count in nfev
        if nfev >= maxiter:
            break
        at_lo = (x <= lo) & (g > 0)
        at_hi = (x >= hi) & (g < 0)
        free = ~(at_lo | at_hi) & (hi > lo)
        if not np.any(free) or float(np.max(np.abs(g[free]))) <= gtol:
            message = "projected gradient below gtol"
            break
        if delta < xtol * diag:
            message = "trust region below xtol"
            break
        s = np.zeros_like(x)
        s[free] = tr_subproblem(g[free], H[np.ix_(free, free)], delta)
        if not np.all(np.isfinite(s)):
            message = "non-finite step"
            break
        d = np.clip(x + s, lo, hi) - x
        pred = -(float(g @ d) + 0.5 * float(d @ H @ d))
        nd = float(np.linalg.norm(d))
        if 0 <= pred <= 1e-15 * max(1.0, abs(f)):
            message = "predicted decrease below rounding"
            break
        if pred <= 0 or nd == 0:
            delta = 0.25 * (nd or delta)
            continue
        xt = x + d
        ft, gt, Ht = fgh(xt)
        nfev += 1
        rho = (f - ft) / pred if math.isfinite(ft) else -math.inf
        if rho > 1e-4:
            if ft == f and nd <= 1e-15 * diag:
                message = "no further decrease"
                x, f, g, H = xt, ft, gt, Ht
                break
            x, f, g, H = xt, ft, gt, Ht
        if rho < 0.25:
            delta = 0.25 * nd
        elif rho > 0.75 and nd >= 0.99 * delta:
            delta = min(2.0 * delta, diag)
    return BoxResult(x, f, nfev, message)
