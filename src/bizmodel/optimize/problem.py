"""One continuous subproblem: a layout, weighted objective terms, constraints, local solves.

The variables are mapped to the unit cube ``u = (x - min) / (max - min)`` so that every lever
has the same scale for the local solvers; objective and constraint values come with exact
gradients (and, for the second-order solvers, exact Hessians) from :mod:`bizmodel.optimize.dual`.
Local solves: trust-region Newton on the box (:mod:`bizmodel.optimize.newton`) for subproblems
with bounds only, SLSQP where there are constraints (``method="auto"``), or as chosen.

A point is *feasible* when it lies in the bounds (it always does: ``u`` is clipped) and
every constraint ``lhs <= rhs`` (``>=``, ``==``) holds to within ``tol * max(1, |lhs|, |rhs|)``
— the one tolerance used everywhere and reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bizmodel.errors import ConfigError
from bizmodel.optimize.dual import Dual, Dual2
from bizmodel.optimize.model import BusinessModel, Layout
from bizmodel.optimize.newton import trust_region_box

BAD = 1e30  # what SLSQP sees where the model is not finite (it backs off from there)


@dataclass
class Counter:
    """Evaluations used; ``trace`` keeps (objective, feasible, x) per evaluation if recording."""

    n: int = 0
    record: bool = False
    trace: list[tuple[float, bool, np.ndarray]] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """A constraint ``a(env) - b(env) <= 0`` (``== 0`` when ``eq``)."""

    name: str
    a: Callable[[Mapping[str, Any]], Any]
    b: Callable[[Mapping[str, Any]], Any]
    eq: bool = False


# a lever this close to a bound (in units of its range) at a local optimum is put on it
BOUND_SNAP = 1e-4


@dataclass
class Point:
    """One evaluated point."""

    u: np.ndarray
    x: np.ndarray
    F: float
    dF: np.ndarray  # d F / d u
    g: np.ndarray  # (m,) a - b, raw units
    dg: np.ndarray  # (m, n) d g / d u
    a: np.ndarray
    b: np.ndarray
    env: dict[str, Any]
    d2F: np.ndarray | None = None  # (n, n) Hessian of F in u, when asked for
    d2g: np.ndarray | None = None  # (m, n, n) Hessians of g in u, when asked for

    @property
    def finite(self) -> bool:
        return bool(math.isfinite(self.F) and np.all(np.isfinite(self.g)))

    def violations(self, rows: Sequence[Row]) -> np.ndarray:
        """Relative violation of each row (<= 0 means it holds)."""
        with np.errstate(all="ignore"):
            scale = np.maximum(1.0, np.maximum(np.abs(self.a), np.abs(self.b)))
            v = np.where([r.eq for r in rows], np.abs(self.g), self.g) / scale
        return np.where(np.isfinite(v), v, np.inf)

    def max_violation(self, rows: Sequence[Row]) -> float:
        return float(np.max(self.violations(rows), initial=0.0))


def _vg(v: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(v, Dual):
        val = np.asarray(v.val, dtype=float)
        return val, np.broadcast_to(v.grad, (*val.shape, n))
    val = np.asarray(v, dtype=float)
    return val, np.zeros((*val.shape, n))


def _vgh(v: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    val, grad = _vg(v, n)
    if isinstance(v, Dual2):
        return val, grad, np.broadcast_to(v.hess, (*val.shape, n, n))
    return val, grad, np.zeros((*val.shape, n, n))


def _mean_lead(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over the leading (scenario) axes, keeping the last ``k`` axes."""
    return a.reshape(-1, *a.shape[a.ndim - k :]).mean(0) if a.ndim > k else a


#: local solvers: "slsqp" (quasi-Newton SQP, first order), "newton" (trust-region Newton with
#: exact Hessians; bounds-only subproblems, else SLSQP), "trust-constr" (scipy's, with exact
#: Hessians of the objective and of the constraints' Lagrangian), "auto" (the measured best:
#: see docs/benchmarks.md)
LOCAL_METHODS = ("auto", "slsqp", "newton", "trust-constr")


class Problem:
    """Maximise ``Σ coef_i · quantity_i`` over one layout subject to ``rows``.

    ``theta`` of shape ``(S, p)`` evaluates ``S`` growth scenarios at once: the objective is
    their mean (``quantile=None``) or their ``quantile``; constraints hold on the mean.
    """

    def __init__(
        self,
        model: BusinessModel,
        layout: Layout,
        coefs: Mapping[str, float],
        rows: Sequence[Row],
        counter: Counter,
        theta: np.ndarray | None = None,
        quantile: float | None = None,
        tol: float = 1e-6,
        method: str = "auto",
        anchor: np.ndarray | None = None,
    ) -> None:
        if method not in LOCAL_METHODS:
            raise ConfigError(f"method: got {method!r}; valid: {', '.join(LOCAL_METHODS)}")
        self.model = model
        self.layout = layout
        self.coefs = dict(coefs)
        self.rows = list(rows)
        self.counter = counter
        self.theta = theta
        self.quantile = quantile
        self.tol = tol
        self.n = layout.n
        self.span = layout.upper - layout.lower
        self.groups: list[np.ndarray] = []  # indices of each relaxed lever's weights
        k = len(model.spec.continuous)
        for r in layout.relaxed:
            m = len(model._discrete[r].choices)
            self.groups.append(np.arange(k, k + m))
            k += m
        self.method = self._choose(method, rows)
        self._cache: dict[bytes, Point] = {}
        self.nonfinite: list[np.ndarray] = []  # points (u) where the model was not finite
        # the scales come from the first point evaluated: the box center, or ``anchor`` (a
        # start known to be good, e.g. a closed-form stationary point)
        center = self.run(self.center() if anchor is None else self.clean(anchor))
        self.fscale = abs(center.F) if math.isfinite(center.F) and center.F != 0 else 1.0
        cs = np.maximum(1.0, np.maximum(np.abs(center.a), np.abs(center.b)))
        self.cscale = np.where(np.isfinite(cs), cs, 1.0)

    def _choose(self, method: str, rows: Sequence[Row]) -> str:
        bounds_only = not rows and not self.groups
        if method == "newton" and not bounds_only:
            return "slsqp"  # the box Newton method handles bounds only
        if method != "auto":
            return method
        # measured (benchmarks/optimizer_evals.py): exact-Hessian Newton wins on bounds-only
        # subproblems; with general constraints SLSQP needs fewer evaluations
        return "newton" if bounds_only else "slsqp"

    @property
    def second_order(self) -> bool:
        """Whether evaluations carry Hessians (one walk either way; more arithmetic)."""
        return self.method in ("newton", "trust-constr")

    def center(self) -> np.ndarray:
        u = np.full(self.n, 0.5)
        for grp in self.groups:
            u[grp] = 1.0 / len(grp)
        return u

    def starts(self, n_starts: int, seed: int) -> list[np.ndarray]:
        """The center, then Latin-hypercube points (relaxed weights start uniform)."""
        out = [self.center()]
        if n_starts > 1 and self.n:
            rng = np.random.default_rng(seed)
            m = n_starts - 1
            lhs = (
                rng.permuted(np.tile(np.arange(m), (self.n, 1)), axis=1).T
                + rng.uniform(size=(m, self.n))
            ) / m
            for row in lhs:
                for grp in self.groups:
                    row[grp] = 1.0 / len(grp)
                out.append(row)
        return out

    # evaluation ---------------------------------------------------------------------------
    def run(self, u: np.ndarray) -> Point:
        with np.errstate(all="ignore"):  # inf/nan are detected and reported, not warned
            return self._run(u)

    def _run(self, u: np.ndarray) -> Point:
        u = np.asarray(u, dtype=float)
        key = u.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        n = self.n
        # clip: lower + 1.0 * (upper - lower) can round one ulp past upper
        x = np.clip(self.layout.lower + u * self.span, self.layout.lower, self.layout.upper)
        hess = self.second_order
        env = self.model.evaluate(self.layout, x, self.theta, hess=hess)
        self.counter.n += 1
        F_s = (
            np.zeros(())
            if self.theta is None or self.theta.ndim == 1
            else np.zeros(self.theta.shape[0])
        )
        dF_s = np.zeros((*F_s.shape, n))
        d2F_s = np.zeros((*F_s.shape, n, n) if hess else ())
        for name, c in self.coefs.items():
            if hess:
                v, g, h = _vgh(env[name], n)
                d2F_s = d2F_s + c * h
            else:
                v, g = _vg(env[name], n)
            F_s = F_s + c * v
            dF_s = dF_s + c * g
        F, dF, d2F = self._reduce(F_s, dF_s, d2F_s if hess else None)
        m = len(self.rows)
        a = np.zeros(m)
        b = np.zeros(m)
        dg = np.zeros((m, n))
        d2g = np.zeros((m, n, n) if hess else ())
        for j, row in enumerate(self.rows):
            if hess:
                av, ag, ah = _vgh(row.a(env), n)
                bv, bg, bh = _vgh(row.b(env), n)
                d2g[j] = _mean_lead(ah, 2) - _mean_lead(bh, 2)
            else:
                av, ag = _vg(row.a(env), n)
                bv, bg = _vg(row.b(env), n)
            a[j], b[j] = float(np.mean(av)), float(np.mean(bv))
            dg[j] = _mean_lead(ag, 1) - _mean_lead(bg, 1)
        dg = dg * self.span  # chain rule to the unit cube: ∂/∂u_i = span_i ∂/∂x_i
        # ∂²/∂u_i∂u_j = span_i span_j ∂²/∂x_i∂x_j
        ss = np.outer(self.span, self.span) if hess else 1.0
        p = Point(
            u,
            x,
            F,
            dF * self.span,
            a - b,
            dg,
            a,
            b,
            env,
            None if d2F is None else d2F * ss,
            d2g * ss if hess else None,
        )
        if self.counter.record:
            ok = p.finite and p.max_violation(self.rows) <= self.tol
            self.counter.trace.append((F, ok, x.copy()))
        if not p.finite:
            self.nonfinite.append(u.copy())
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = p
        return p

    def _reduce(
        self, F_s: np.ndarray, dF_s: np.ndarray, d2F_s: np.ndarray | None
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        if F_s.ndim == 0:
            return float(F_s), dF_s, d2F_s
        if self.quantile is None:
            return (
                float(F_s.mean()),
                dF_s.mean(axis=0),
                None if d2F_s is None else d2F_s.mean(axis=0),
            )
        # linear interpolation between order statistics, as numpy's default quantile
        order = np.argsort(F_s)
        pos = self.quantile * (len(F_s) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(F_s) - 1)
        t = pos - lo
        i, j = order[lo], order[hi]
        return (
            float((1 - t) * F_s[i] + t * F_s[j]),
            (1 - t) * dF_s[i] + t * dF_s[j],
            None if d2F_s is None else (1 - t) * d2F_s[i] + t * d2F_s[j],
        )

    # local solves ---------------------------------------------------------------------------
    def _scipy_constraints(self, with_t: bool = False) -> list[dict[str, Any]]:
        ineq = [j for j, r in enumerate(self.rows) if not r.eq]
        eq = [j for j, r in enumerate(self.rows) if r.eq]
        cs = self.cscale
        n = self.n
        out: list[dict[str, Any]] = []

        def split(z: np.ndarray) -> tuple[np.ndarray, float]:
            return (z[:n], float(z[n])) if with_t else (z, 0.0)

        def pad(jac: np.ndarray, tcol: float | np.ndarray) -> np.ndarray:
            if not with_t:
                return jac
            return np.hstack([jac, np.broadcast_to(tcol, (jac.shape[0], 1))])

        def safe(v: np.ndarray) -> np.ndarray:
            return np.where(np.isfinite(v), v, -BAD)

        if ineq:

            def f_in(z: np.ndarray) -> np.ndarray:
                u, t = split(z)
                p = self.run(u)
                return safe(t - p.g[ineq] / cs[ineq])

            def j_in(z: np.ndarray) -> np.ndarray:
                u, _ = split(z)
                p = self.run(u)
                return pad(np.nan_to_num(-p.dg[ineq] / cs[ineq, None]), 1.0)

            out.append({"type": "ineq", "fun": f_in, "jac": j_in})
        if eq:
            if with_t:  # |h| <= t as two inequalities
                for sgn in (1.0, -1.0):

                    def f_eq(z: np.ndarray, s: float = sgn) -> np.ndarray:
                        u, t = split(z)
                        return safe(t - s * self.run(u).g[eq] / cs[eq])

                    def j_eq(z: np.ndarray, s: float = sgn) -> np.ndarray:
                        u, _ = split(z)
                        return pad(np.nan_to_num(-s * self.run(u).dg[eq] / cs[eq, None]), 1.0)

                    out.append({"type": "ineq", "fun": f_eq, "jac": j_eq})
            else:
                out.append(
                    {
                        "type": "eq",
                        "fun": lambda z: safe(self.run(z).g[eq] / cs[eq]),
                        "jac": lambda z: np.nan_to_num(self.run(z).dg[eq] / cs[eq, None]),
                    }
                )
        return out + self._weight_sums(with_t)

    def _weight_sums(self, with_t: bool = False) -> list[dict[str, Any]]:
        # each relaxed discrete lever's choice weights sum to one
        out: list[dict[str, Any]] = []
        for grp in self.groups:
            row = np.zeros(self.n + (1 if with_t else 0))
            row[grp] = 1.0
            out.append(
                {
                    "type": "eq",
                    "fun": lambda z, g=grp: np.array([z[g].sum() - 1.0]),
                    "jac": lambda z, r=row: r[None, :],
                }
            )
        return out

    def clean(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.nan_to_num(np.asarray(u, dtype=float), nan=0.5), 0.0, 1.0)
        for grp in self.groups:
            s = u[grp].sum()
            u[grp] = u[grp] / s if s > 0 else 1.0 / len(grp)
        return u

    def local(self, u0: np.ndarray, maxiter: int = 300) -> Point:
        """A local solve from ``u0`` by ``self.method``; returns the end point, projected
        exactly onto the bounds it ends within ``BOUND_SNAP`` of (see :meth:`snap`)."""
        if self.n == 0:
            return self.run(u0)
        if self.method == "newton":
            return self.snap(self.newton(u0, maxiter))
        if self.method == "trust-constr":
            return self.snap(self.trust_constr(u0, maxiter))
        return self.snap(self.slsqp(u0, maxiter))

    def snap(self, p: Point) -> Point:
        """``p`` with each lever that ends near a bound put exactly on it, when that is no worse.

        Quasi-Newton solvers stop a rounding error inside a bound (``u = 1 - 4e-16``,
        ``price = 14.999999999999996`` for a maximum of 15), interior-point ones (trust-constr)
        ~1e-6 of the range inside: a user reads that as "not at the bound" and a test comparing
        plans sees noise. A lever within ``BOUND_SNAP`` of its range of a bound that the
        objective's gradient pushes against is projected onto it. The projection is kept
        only if the objective does not drop by more than a rounding error and no constraint
        gets worse beyond the tolerance; levers of a relaxed discrete group (a simplex) are
        left alone.
        """
        u = p.u.copy()
        free = np.ones(self.n, dtype=bool)
        for grp in self.groups:
            free[grp] = False
        # within BOUND_SNAP and the objective's gradient points out of the box there (the
        # bound is active by KKT), or within a rounding error whatever the gradient says
        dF = np.nan_to_num(p.dF)
        near_lo = free & (u > 0.0) & (((u <= BOUND_SNAP) & (dF < 0)) | (u <= 1e-12))
        near_hi = free & (u < 1.0) & (((u >= 1.0 - BOUND_SNAP) & (dF > 0)) | (u >= 1.0 - 1e-12))
        if not (near_lo.any() or near_hi.any()):
            return p
        u[near_lo] = 0.0
        u[near_hi] = 1.0
        q = self.run(u)
        if not q.finite:
            return p
        before, after = p.F, q.F
        worse_f = after < before - 1e-9 * max(abs(before), 1.0)  # beyond a rounding error
        worse_g = q.max_violation(self.rows) > max(p.max_violation(self.rows), self.tol)
        return p if worse_f or worse_g else q

    def newton(self, u0: np.ndarray, maxiter: int = 300) -> Point:
        """Trust-region Newton on the unit box with exact Hessians (bounds-only problems).

        Minimises ``-F(u) / fscale`` by :func:`bizmodel.optimize.newton.trust_region_box`.
        """
        fs = self.fscale

        def fgh(u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            p = self.run(u)
            if not p.finite or p.d2F is None:
                return math.inf, np.zeros(self.n), np.zeros((self.n, self.n))
            return -p.F / fs, np.nan_to_num(-p.dF / fs), np.nan_to_num(-p.d2F / fs)

        lo, hi = np.zeros(self.n), np.ones(self.n)
        res = trust_region_box(fgh, self.clean(u0), lo, hi, maxiter=maxiter)
        return self.run(self.clean(res.x))

    def trust_constr(self, u0: np.ndarray, maxiter: int = 300) -> Point:
        """scipy ``trust-constr`` with exact Hessians of the objective and the constraints.

        The Lagrangian's Hessian is ``∇²f + Σ v_j ∇²c_j`` with scipy's multipliers ``v``;
        constraints are the scaled rows ``g_j / cscale_j <= 0`` (``== 0``) and the relaxed
        choice weights' sums (linear).
        """
        from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint

        fs, cs, n = self.fscale, self.cscale, self.n

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            p = self.run(self.clean_box(u))
            if not math.isfinite(p.F):
                return BAD, np.zeros(n)
            return -p.F / fs, np.nan_to_num(-p.dF / fs)

        def hess(u: np.ndarray) -> np.ndarray:
            p = self.run(self.clean_box(u))
            return np.zeros((n, n)) if p.d2F is None else np.nan_to_num(-p.d2F / fs)

        cons: list[Any] = []
        if self.rows:
            m = len(self.rows)
            ub = np.zeros(m)
            lb = np.where([r.eq for r in self.rows], 0.0, -np.inf)

            def c(u: np.ndarray) -> np.ndarray:
                g = self.run(self.clean_box(u)).g / cs
                return np.where(np.isfinite(g), g, BAD)

            def cj(u: np.ndarray) -> np.ndarray:
                return np.nan_to_num(self.run(self.clean_box(u)).dg / cs[:, None])

            def ch(u: np.ndarray, v: np.ndarray) -> np.ndarray:
                d2g = self.run(self.clean_box(u)).d2g
                if d2g is None:
                    return np.zeros((n, n))
                return np.nan_to_num(np.einsum("j,jkl->kl", v / cs, d2g))

            cons.append(NonlinearConstraint(c, lb, ub, jac=cj, hess=ch))
        for grp in self.groups:
            row = np.zeros(n)
            row[grp] = 1.0
            cons.append(LinearConstraint(row[None, :], 1.0, 1.0))
        with np.errstate(all="ignore"):  # scipy's QP step divides by zero on bounds
            res = minimize(
                fun,
                self.clean(u0),
                jac=True,
                hess=hess,
                method="trust-constr",
                bounds=Bounds(np.zeros(n), np.ones(n), keep_feasible=True),
                constraints=cons,
                options={"maxiter": maxiter, "gtol": 1e-12, "xtol": 1e-14},
            )
        return self.run(self.clean(res.x))

    def clean_box(self, u: np.ndarray) -> np.ndarray:
        """``u`` clipped to the unit box (solvers may probe a hair outside)."""
        return np.clip(np.asarray(u, dtype=float), 0.0, 1.0)

    def slsqp(self, u0: np.ndarray, maxiter: int = 300) -> Point:
        """SLSQP (quasi-Newton SQP, exact gradients) from ``u0``."""
        fs = self.fscale

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            p = self.run(u)
            if not math.isfinite(p.F):
                return BAD, np.zeros(self.n)
            return -p.F / fs, np.nan_to_num(-p.dF / fs)

        res = minimize(
            fun,
            self.clean(u0),
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * self.n,
            constraints=self._scipy_constraints(),
            options={"maxiter": maxiter, "ftol": 1e-13},
        )
        return self.run(self.clean(res.x))

    def phase1(self, u0: np.ndarray) -> Point:
        """Minimise the largest scaled violation ``t`` (finds a feasible point if one exists)."""
        if self.n == 0:
            return self.run(u0)
        u0 = self.clean(u0)
        p0 = self.run(u0)
        t0 = max(float(np.max(np.abs(p0.g) / self.cscale, initial=0.0)), 0.0) + 1.0
        if not math.isfinite(t0):
            t0 = 1.0
        res = minimize(
            lambda z: (z[-1], np.eye(self.n + 1)[-1]),
            np.append(u0, t0),
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * self.n + [(0.0, None)],
            constraints=self._scipy_constraints(with_t=True),
            options={"maxiter": 300, "ftol": 1e-14},
        )
        return self.run(self.clean(res.x[:-1]))

    def minimize_row(self, j: int, u0: np.ndarray) -> Point:
        """Make row ``j`` as small as the bounds allow, ignoring the other constraints."""
        if self.n == 0:
            return self.run(u0)
        cs = self.cscale[j]

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            p = self.run(u)
            v = abs(p.g[j]) if self.rows[j].eq else p.g[j]
            d = np.sign(p.g[j]) * p.dg[j] if self.rows[j].eq else p.dg[j]
            if not math.isfinite(v):
                return BAD, np.zeros(self.n)
            return v / cs, np.nan_to_num(d / cs)

        cons = self._weight_sums()
        res = minimize(
            fun,
            self.clean(u0),
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * self.n,
            constraints=cons,
            options={"maxiter": 200, "ftol": 1e-14},
        )
        return self.run(self.clean(res.x))

    def feasible(self, p: Point) -> bool:
        return p.finite and p.max_violation(self.rows) <= self.tol
