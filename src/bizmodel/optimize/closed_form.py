"""Interior stationary points in closed form, for bounds-only subproblems that admit them.

The growth model makes many textbook objectives *exp-polynomial*: revenue
``p · exp(a·p + b)`` has the gradient ``exp(a·p + b) · (1 + a·p)``, whose only zero is
``p* = −1/a``. For such a subproblem — bounds only, a handful of continuous levers — the
first-order conditions ``∇F = 0`` are solved symbolically (SymPy) before any numeric step:

1. the objective ``F = Σ coef_q · q`` is built as one SymPy expression from the spec's
   expression trees (the growth quantity as ``exp(θ₀ + Σ θⱼ·featureⱼ) · exposure``);
2. each partial derivative is brought over a common denominator and its numerator split into
   factors; factors that are never zero are dropped (nonzero numbers, ``exp(·)``), a power
   ``b^e`` with ``e > 0`` is zero exactly where ``b`` is;
3. when what is left of every equation is a product of polynomials in the levers (total
   degree at most :data:`MAX_DEGREE`), each choice of one factor per equation is a polynomial
   system; a *triangular* one (an equation in one lever, then, with that lever's value
   substituted, another in one lever, ...) is solved by the roots of each univariate
   polynomial in turn, and a linear one (a quadratic objective) directly;
4. real solutions strictly inside the box are returned.

Anything else — ``min``/``max``/``abs``, the unit-economics helpers, a sum of an exponential
and a polynomial such as ``users·(p − c) − spend``, a nonlinear polynomial system that is not
triangular (general solvers can take minutes), more than :data:`MAX_LEVERS` levers, over
:data:`MAX_SECONDS` — is not attempted, and the caller's numeric search runs as before. The
points returned are candidates only: the search evaluates them first (an exact optimum costs
one evaluation) and still runs its multi-start, so a stationary point that is a saddle or a
local maximum never stands in for the global one.

Examples
--------
>>> from bizmodel.optimize.model import BusinessModel
>>> from bizmodel.optimize.spec import Spec
>>> spec = Spec.from_dict({
...     "levers": {"price_usd": {"min": 1.0, "max": 200.0}},
...     "growth": {"intercept": 8.0, "coefficients": {"price_usd": -0.05}},
...     "quantities": {"users": "growth", "revenue_usd": "users * price_usd"},
...     "objective": {"maximize": {"revenue_usd": 1.0}},
... })
>>> model = BusinessModel(spec)
>>> points = stationary_points(model, model.layout({}), {"revenue_usd": 1.0})
>>> [round(float(x[0]), 9) for x in points]    # p* = -1/a
[20.0]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from bizmodel.optimize.expr import BinOp, Call, Neg, Node, Num, Var
from bizmodel.optimize.model import BusinessModel, Layout
from bizmodel.optimize.spec import GROWTH

MAX_LEVERS = 3  # continuous levers of a subproblem tried in closed form
MAX_DEGREE = 4  # total degree of each polynomial factor
MAX_SYSTEMS = 27  # choices of one factor per equation
MAX_BRANCHES = 200  # partial solutions explored per system
MAX_OPS = 400  # size of the objective expression (SymPy operations)
MAX_SECONDS = 1.0  # wall-clock budget of one subproblem's attempt, checked between steps


class NotClosedForm(Exception):
    """The subproblem is outside the class solved here (internal; never reaches users)."""


def stationary_points(
    model: BusinessModel,
    layout: Layout,
    coefs: Mapping[str, float],
    theta: np.ndarray | None = None,
) -> list[np.ndarray] | None:
    """Interior zeros of the objective's gradient, in lever units; ``None`` if not solvable.

    Parameters
    ----------
    model
        The compiled spec.
    layout
        One discrete assignment; relaxed layouts (branch-and-bound) are not attempted.
    coefs
        The objective ``Σ coefs[q] · q``.
    theta
        Growth parameters ``(p,)`` overriding the fit; a matrix of draws is not attempted.

    Returns
    -------
    list of numpy.ndarray or None
        Each a point strictly inside the box where every partial derivative is zero (``[]``:
        there is none); ``None`` when the subproblem is outside the class solved here.
    """
    if layout.relaxed or not 0 < layout.n <= MAX_LEVERS:
        return None
    if theta is not None and np.ndim(theta) != 1:
        return None
    try:
        return _solve(model, layout, coefs, theta)
    except NotClosedForm:
        return None


def _solve(
    model: BusinessModel, layout: Layout, coefs: Mapping[str, float], theta: np.ndarray | None
) -> list[np.ndarray]:
    import sympy as sp

    syms = [sp.Symbol(f"x{i}", real=True) for i in range(layout.n)]
    env = _environment(model, layout, syms, theta)
    F = sum((sp.Float(c) * env[q] for q, c in coefs.items() if c != 0), sp.Integer(0))
    if not F.free_symbols:
        raise NotClosedForm("the objective does not depend on the levers")
    if sp.count_ops(F) > MAX_OPS:
        raise NotClosedForm("expression too large")
    alternatives = [_zero_factors(sp.diff(F, s), syms) for s in syms]
    if any(not alt for alt in alternatives):
        return []  # an equation without zeros: no interior stationary point
    combos = list(itertools.islice(itertools.product(*alternatives), MAX_SYSTEMS + 1))
    if len(combos) > MAX_SYSTEMS:
        raise NotClosedForm
    points: list[np.ndarray] = []
    solved = 0
    deadline = time.monotonic() + MAX_SECONDS
    for system in combos:
        if time.monotonic() > deadline:
            raise NotClosedForm("over budget")
        try:  # a system outside the class (e.g. a line of stationary points) is skipped:
            found = _solve_system(list(system), syms)  # the points are only starts
        except NotClosedForm:
            continue
        solved += 1
        for x in found:
            inside = np.all(x > layout.lower) and np.all(x < layout.upper)
            if inside and not any(np.allclose(x, q, rtol=1e-12, atol=0) for q in points):
                points.append(x)
    if not solved:
        raise NotClosedForm("no system in the class")
    return points


def _environment(
    model: BusinessModel, layout: Layout, syms: list[Any], theta: np.ndarray | None
) -> dict[str, Any]:
    """Every symbol of the spec as a SymPy expression in the continuous levers."""
    import sympy as sp

    spec = model.spec
    env: dict[str, Any] = {lv.name: s for lv, s in zip(spec.continuous, syms, strict=True)}
    indicators: dict[str, Any] = {}
    for d in spec.discrete:
        choice = layout.fixed[d.name]
        for cname, v in d.constants[choice].items():
            env[cname] = sp.Float(v)
        if d.values is not None:
            env[d.name] = sp.Float(d.values[d.choices.index(choice)])
        for c in d.choices:
            indicators[f"{d.name}={c}"] = sp.Integer(int(c == choice))
    for cname, v in spec.constants.items():
        env[cname] = sp.Float(v)
    th = model.theta if theta is None else np.asarray(theta, dtype=float)
    for qname, node in spec.quantities.items():
        if qname == GROWTH:
            g = spec.growth
            assert g is not None
            eta = sp.Float(th[0])
            for j, feat in enumerate(g.features, start=1):
                eta += sp.Float(th[j]) * (indicators[feat] if feat in indicators else env[feat])
            out = sp.exp(eta)
            if g.exposure is not None:
                out = out * _to_sympy(g.exposure, env)
            env[GROWTH] = out
        else:
            env[qname] = _to_sympy(node, env)
    return env


def _to_sympy(node: Node, env: Mapping[str, Any]) -> Any:
    import sympy as sp

    if isinstance(node, Num):  # integers stay exact, so that x^2 is a polynomial
        v = float(node.value)
        return sp.Integer(int(v)) if v.is_integer() else sp.Float(v)
    if isinstance(node, Var):
        return env[node.name]
    if isinstance(node, Neg):
        return -_to_sympy(node.operand, env)
    if isinstance(node, BinOp):
        a, b = _to_sympy(node.left, env), _to_sympy(node.right, env)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        return sp.Pow(a, b)
    if isinstance(node, Call):
        unary = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt}
        args = [_to_sympy(a, env) for a in node.args]
        if node.func in unary:
            return unary[node.func](args[0])
        if node.func == "pow":
            return sp.Pow(args[0], args[1])
    raise NotClosedForm(node.text)  # min/max/abs, unit-economics helpers, comparisons


def _zero_factors(expr: Any, syms: list[Any]) -> list[Any]:
    """Polynomials whose zeros are exactly the zeros of ``expr`` (one of them must vanish)."""
    import sympy as sp

    numer, _ = sp.fraction(sp.together(expr))
    numer = sp.factor_terms(numer)
    if numer == 0:
        raise NotClosedForm("identically zero: the objective does not depend on a lever")
    out = []
    for f in sp.Mul.make_args(numer):
        if f.is_number:
            if f == 0:
                raise NotClosedForm("zero factor")
            continue
        if isinstance(f, sp.exp):
            continue  # exp is never zero
        if isinstance(f, sp.Pow) and f.exp.is_number:
            if f.exp.is_negative:
                continue  # a pole, not a zero
            f = f.base  # b^e, e > 0, vanishes exactly where b does
        if not f.is_polynomial(*syms):
            f = sp.expand(f, power_exp=False, log=False)  # e.g. a·exp(u) + b·exp(u) terms
            if not f.is_polynomial(*syms):
                raise NotClosedForm(str(f))
        poly = sp.Poly(f, *syms)
        if poly.total_degree() > MAX_DEGREE:
            raise NotClosedForm(str(f))
        if poly.total_degree() > 0:
            out.append(poly.as_expr())
    return out


class _Budget:
    """Branches and seconds left for one system."""

    def __init__(self) -> None:
        self.branches = MAX_BRANCHES
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self) -> None:
        self.branches -= 1
        if self.branches < 0 or time.monotonic() > self.deadline:
            raise NotClosedForm("over budget")


def _solve_system(system: list[Any], syms: list[Any]) -> list[np.ndarray]:
    """Real solutions of a *triangular* polynomial system, by successive univariate roots.

    An equation in one unknown is solved (all its roots), each real root substituted into the
    others, and so on; where no equation has a single unknown left, the rest must be a linear
    system with a unique solution (:func:`_linear`). Other multivariate systems, and fewer
    independent equations than levers, are not attempted: general polynomial-system solvers
    (Gröbner bases over floats) can take minutes.
    """
    budget = _Budget()
    out = []
    for sol in _eliminate(system, syms, {}, budget):
        out.append(np.array([sol[s] for s in syms]))
    return out


def _eliminate(
    eqs: list[Any], syms: list[Any], known: dict[Any, float], budget: _Budget
) -> list[dict[Any, float]]:
    import sympy as sp

    budget.spend()
    rest = []
    for e in eqs:
        v = e.subs(known) if known else e
        if not v.free_symbols:
            scale = sum(abs(float(t.subs(known))) for t in sp.Add.make_args(e))
            if abs(float(v)) <= 1e-9 * scale:
                continue  # satisfied by the values found so far
            return []  # contradiction: no solution on this branch
        rest.append(sp.expand(v))
    if len(known) == len(syms):
        return [known]
    single = [e for e in rest if len(e.free_symbols) == 1]
    if not single:
        return [_linear(rest, [s for s in syms if s not in known], known)]
    e = min(single, key=lambda q: sp.Poly(q).degree())
    (x,) = e.free_symbols
    try:
        roots = sp.Poly(e, x).nroots(n=17, maxsteps=200)
    except sp.polys.polyerrors.PolynomialError as err:  # pragma: no cover - defensive
        raise NotClosedForm(str(err)) from err
    except sp.core.evalf.NoConvergence as err:  # pragma: no cover - defensive
        raise NotClosedForm(str(err)) from err
    others = [q for q in rest if q is not e]
    out = []
    for r in roots:
        re, im = (float(c) for c in r.as_real_imag())
        if abs(im) <= 1e-12 * max(1.0, abs(re)):
            out += _eliminate(others, syms, {**known, x: re}, budget)
    return out


def _linear(eqs: list[Any], free: list[Any], known: dict[Any, float]) -> dict[Any, float]:
    """The unique solution of a linear system in ``free`` (else: not attempted)."""
    import sympy as sp

    if any(sp.Poly(e, *free).total_degree() > 1 for e in eqs):
        raise NotClosedForm("not triangular, and not linear")
    A_, b_ = sp.linear_eq_to_matrix(eqs, free)
    A = np.array(A_.tolist(), dtype=float)
    b = np.array(b_.tolist(), dtype=float).ravel()
    if np.linalg.matrix_rank(A) < len(free):
        raise NotClosedForm("fewer independent equations than levers: a continuum")
    x, *_ = np.linalg.lstsq(A, b, rcond=None)
    if not np.allclose(A @ x, b, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(b).max()))):
        raise NotClosedForm("inconsistent linear system")
    return {**known, **{s: float(v) for s, v in zip(free, x, strict=True)}}
