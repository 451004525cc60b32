"""Robustness over the growth fit's uncertainty, and sensitivity of the optimum.

Robustness draws the growth coefficients ``θ ~ N(θ̂, Σ)`` (the fit's covariance, or the
spec's ``std_errors``) and reports the objective at the chosen levers across the draws, plus
the spread of the optimum one would choose under each of a subset of draws (re-optimised with
the discrete choice held). Sensitivity gives d(optimal objective)/dλ_i exactly by the envelope
theorem (``±f_i(x*)/s_i``), d(optimal objective)/dθ_j from the Lagrangian
``F - Σ μ_k g_k`` at the optimum (central differences in θ_j), and the levers' movement by
re-optimising at ``p ± h`` from the optimum.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bizmodel.errors import SpecError
from bizmodel.optimize.problem import Problem
from bizmodel.optimize.results import RobustnessReport, SensitivityReport
from bizmodel.optimize.search import Found, Search
from bizmodel.optimize.spec import Spec


def draw_coefficients(spec: Spec, samples: int, seed: int) -> np.ndarray:
    """``samples`` draws ``(S, p)`` of the growth coefficients from their covariance.

    Examples
    --------
    >>> spec = Spec.from_dict({
    ...     "levers": {"p": {"min": 1.0, "max": 9.0}},
    ...     "growth": {"intercept": 2.0, "coefficients": {"p": -0.1},
    ...                "std_errors": {"p": 0.01}},
    ...     "quantities": {"users": "growth"},
    ...     "objective": {"maximize": {"users": 1.0}},
    ... })
    >>> theta = draw_coefficients(spec, 1000, seed=0)
    >>> theta.shape, float(theta[:, 0].std()), round(float(theta[:, 1].std()), 2)
    ((1000, 2), 0.0, 0.01)
    """
    g = spec.growth
    if g is None or g.cov is None:
        raise SpecError(
            "growth: robustness needs the coefficients' uncertainty; valid: fit = "
            '"growth_fit.json" with a cov, or growth.std_errors / growth.cov',
            file=spec.source,
        )
    if samples < 2:
        raise SpecError(f"samples: got {samples}; valid: an integer >= 2", file=spec.source)
    vals, vecs = np.linalg.eigh((g.cov + g.cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # tolerate tiny negative eigenvalues
    z = np.random.default_rng(seed).standard_normal((samples, len(g.params)))
    return g.params + z @ root.T


def robustness(
    search: Search, found: Found, theta: np.ndarray, mode: str, reoptimize: int = 20
) -> RobustnessReport:
    prob = found.problem
    u = found.point.u
    nominal = Problem(
        prob.model, prob.layout, prob.coefs, prob.rows, search.counter, None, None, prob.tol
    )
    # objective of each draw at the chosen levers: evaluate once with all draws
    env = prob.model.evaluate(prob.layout, found.point.x, theta, grad=False)
    F = sum(c * np.asarray(env[n], dtype=float) for n, c in prob.coefs.items())
    F = np.broadcast_to(F, (theta.shape[0],))
    opt: list[float] = []
    levers: list[np.ndarray] = []
    n_cont = len(prob.model.spec.continuous)
    for th in theta[: min(reoptimize, len(theta))]:
        one = Problem(
            prob.model, prob.layout, prob.coefs, prob.rows, search.counter, th, None, prob.tol
        )
        p = one.local(u)
        if one.feasible(p):
            opt.append(p.F)
            levers.append(p.x[:n_cont])
    opt_a = np.asarray(opt) if opt else np.full(1, np.nan)
    lev = np.asarray(levers) if levers else np.full((1, n_cont), np.nan)
    return RobustnessReport(
        mode=mode,
        samples=int(theta.shape[0]),
        nominal_objective=float(nominal.run(u).F),
        objective_mean=float(F.mean()),
        objective_std=float(F.std(ddof=1)),
        objective_q05=float(np.quantile(F, 0.05)),
        objective_q95=float(np.quantile(F, 0.95)),
        reoptimized=len(opt),
        optimum_mean=float(opt_a.mean()),
        optimum_std=float(opt_a.std(ddof=1)) if len(opt) > 1 else 0.0,
        optimum_q05=float(np.quantile(opt_a, 0.05)),
        optimum_q95=float(np.quantile(opt_a, 0.95)),
        lever_std={
            lv.name: float(lev[:, i].std(ddof=1)) if len(levers) > 1 else 0.0
            for i, lv in enumerate(prob.model.spec.continuous)
        },
    )


def _resolve(
    search: Search, found: Found, coefs: Mapping[str, float], theta: np.ndarray | None
) -> np.ndarray:
    prob = found.problem
    p2 = Problem(
        prob.model,
        prob.layout,
        coefs,
        prob.rows,
        search.counter,
        theta if theta is not None else prob.theta,
        prob.quantile,
        prob.tol,
    )
    return p2.local(found.point.u).x


def sensitivity_report(
    search: Search, found: Found, signed: Mapping[str, float], scales: Mapping[str, float]
) -> SensitivityReport:
    from bizmodel.optimize.solver import shadow_prices

    prob, p = found.problem, found.point
    names = prob.layout.names[: len(prob.model.spec.continuous)]
    value_w: dict[str, float] = {}
    levers_w: dict[str, dict[str, float]] = {}
    for term, w in signed.items():
        sign = 1.0 if w >= 0 else -1.0
        value_w[term] = float(
            sign
            * np.mean(p.env[term].val if hasattr(p.env[term], "val") else p.env[term])
            / scales[term]
        )
        h = 1e-3 * max(abs(w), 1.0)
        moved = []
        for step in (h, -h):
            coefs = dict(prob.coefs)
            coefs[term] = (w + sign * step) / scales[term]
            moved.append(_resolve(search, found, coefs, None))
        levers_w[term] = {
            n: float((a - b) / (2 * h)) for n, a, b in zip(names, *moved, strict=False)
        }
    value_c: dict[str, float] = {}
    levers_c: dict[str, dict[str, float]] = {}
    g = prob.model.spec.growth
    if g is not None and prob.theta is None:
        prices, _, _ = shadow_prices(found, prob.tol)
        mu = np.array([prices.get(r.name, 0.0) for r in prob.rows])
        for j, pname in enumerate(g.param_names):
            h = 1e-4 * max(abs(g.params[j]), 1e-3)
            lag = []
            moved = []
            for step in (h, -h):
                th = g.params.copy()
                th[j] += step
                q = Problem(
                    prob.model,
                    prob.layout,
                    prob.coefs,
                    prob.rows,
                    search.counter,
                    th,
                    None,
                    prob.tol,
                )
                pt = q.run(p.u)
                lag.append(pt.F - float(mu @ pt.g) if len(mu) else pt.F)
                moved.append(_resolve(search, found, prob.coefs, th))
            value_c[pname] = float((lag[0] - lag[1]) / (2 * h))
            levers_c[pname] = {
                n: float((a - b) / (2 * h)) for n, a, b in zip(names, *moved, strict=False)
            }
    return SensitivityReport(value_w, levers_w, value_c, levers_c)
