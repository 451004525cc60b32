"""Searching over discrete levers: full enumeration, or branch-and-bound when there are many.

Each discrete assignment is a continuous subproblem (:class:`~bizmodel.optimize.problem.Problem`)
solved from several starts (trust-region Newton with exact Hessians when it has bounds only,
SLSQP otherwise); the best feasible one wins. A bounds-only subproblem whose first-order
conditions are polynomial once positive factors are removed (revenue ``p·exp(a·p + b)``)
starts from its stationary points solved in closed form (:mod:`bizmodel.optimize.closed_form`).
With more than ``enumerate_limit`` assignments, branch-and-bound fixes one discrete lever per
level and bounds each node by the *relaxation* in which the unfixed levers' choice constants
are weighted averages of their choices (weights on the simplex). The bounds come from local
solves, so the pruning is as good as those solves: exact for concave relaxations, a heuristic
otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bizmodel.errors import ExpressionError
from bizmodel.optimize.closed_form import stationary_points
from bizmodel.optimize.dual import value_of
from bizmodel.optimize.expr import BinOp, Node
from bizmodel.optimize.model import BusinessModel, Layout
from bizmodel.optimize.problem import Counter, Point, Problem, Row
from bizmodel.optimize.spec import Spec


@dataclass(frozen=True)
class SearchOptions:
    """Settings of the search (all have sensible defaults)."""

    n_starts: int = 4  # SLSQP starts per discrete assignment: the center + Latin hypercube
    seed: int = 0  # seed of the start points and of robustness draws
    tol: float = 1e-6  # feasibility: violation <= tol * max(1, |lhs|, |rhs|)
    enumerate_limit: int = 64  # more discrete assignments than this: branch-and-bound
    method: str = "auto"  # local solver, one of problem.LOCAL_METHODS
    closed_form: bool = True  # bounds-only subproblems: try ∇F = 0 symbolically first


@dataclass
class Found:
    """The best point of a search; ``feasible`` False means the least-violating one."""

    problem: Problem
    point: Point
    feasible: bool
    closed_form: bool = False  # the point is a closed-form stationary point the solver kept


def constraint_rows(spec: Spec) -> list[Row]:
    """The spec's constraints as rows ``a - b <= 0`` (``>=`` swaps the sides)."""
    rows = []
    for c in spec.constraints:
        left, right = c.node.left, c.node.right
        if c.node.op in (">=", ">"):
            rows.append(Row(c.name, right.evaluate, left.evaluate))
        else:
            rows.append(Row(c.name, left.evaluate, right.evaluate, eq=c.node.op == "=="))
    return rows


class Search:
    """Best feasible point of ``Σ coefs[q] · q`` over all levers, subject to ``rows``."""

    def __init__(
        self,
        model: BusinessModel,
        coefs: Mapping[str, float],
        rows: Sequence[Row],
        options: SearchOptions,
        counter: Counter,
        theta: np.ndarray | None = None,
        quantile: float | None = None,
    ) -> None:
        self.model = model
        self.coefs = dict(coefs)
        self.rows = list(rows)
        self.options = options
        self.counter = counter
        self.theta = theta
        self.quantile = quantile
        self.tried: list[Found] = []  # every fixed-assignment outcome, for diagnosis
        # False once a layout was outside closed_form's class: the others share its structure
        self.closed_form = options.closed_form and not self.rows and quantile is None

    def problem(self, layout: Layout, anchor: np.ndarray | None = None) -> Problem:
        return Problem(
            self.model,
            layout,
            self.coefs,
            self.rows,
            self.counter,
            self.theta,
            self.quantile,
            self.options.tol,
            self.options.method,
            anchor,
        )

    def stationary_starts(self, layout: Layout) -> list[np.ndarray]:
        """Closed-form interior stationary points of a bounds-only layout, in the unit box."""
        if not self.closed_form or layout.relaxed:
            return []
        points = stationary_points(self.model, layout, self.coefs, self.theta)
        if points is None:
            self.closed_form = False
            return []
        span = np.where(layout.upper > layout.lower, layout.upper - layout.lower, 1.0)
        return [(x - layout.lower) / span for x in points]

    def combos(self) -> list[dict[str, str]]:
        spec = self.model.spec
        names = [d.name for d in spec.discrete]
        return [
            dict(zip(names, c, strict=False))
            for c in itertools.product(*(d.choices for d in spec.discrete))
        ]

    def n_combos(self) -> int:
        return math.prod(len(d.choices) for d in self.model.spec.discrete)

    def solve_layout(
        self, layout: Layout, warm: np.ndarray | None = None, n_starts: int | None = None
    ) -> Found:
        """Multi-start SLSQP on one layout, then a phase-1 search if no start is feasible."""
        exact = self.stationary_starts(layout)
        prob = self.problem(layout, exact[0] if exact else None)
        k = self.options.n_starts if n_starts is None else n_starts
        starts = (
            exact
            + ([warm] if warm is not None else [])
            + (prob.starts(k, self.options.seed) if k > 0 else [])
        )
        best: Point | None = None
        least: Point | None = None
        for u0 in starts:
            p0 = prob.run(prob.clean(u0))
            if not prob.feasible(p0):
                # find feasibility first: SLSQP from an infeasible start of an infeasible
                # problem wastes thousands of line-search steps
                p0 = prob.phase1(p0.u)
                if not prob.feasible(p0):
                    if least is None or p0.max_violation(self.rows) < least.max_violation(
                        self.rows
                    ):
                        least = p0
                    continue
            p = prob.local(p0.u)
            if not prob.feasible(p) and p.finite and p.max_violation(self.rows) < 1e-2:
                p = prob.local(p.u)  # SLSQP sometimes stops just outside; one more pass
            if prob.feasible(p):
                if best is None or p.F > best.F:
                    best = p
            elif least is None or p.max_violation(self.rows) < least.max_violation(self.rows):
                least = p
        if best is None:
            assert least is not None or starts
            p1 = prob.phase1(least.u if least is not None else starts[0])
            if prob.feasible(p1):
                p2 = prob.local(p1.u)
                best = p2 if prob.feasible(p2) and p2.F >= p1.F else p1
            elif least is None or p1.max_violation(self.rows) < least.max_violation(self.rows):
                least = p1
        if best is not None:
            # a closed-form point as good as the best found (to rounding) is returned instead:
            # it is exact, where a numeric end point is only within the solver's tolerance
            for u in exact:
                q = prob.run(prob.clean(u))  # cached: it was a start
                tie = best.F - 1e-12 * abs(best.F)
                if prob.feasible(q) and tie <= q.F:
                    return Found(prob, q, True, True)
            return Found(prob, best, True)
        assert least is not None
        return Found(prob, least, False)

    def run(self) -> Found:
        """Enumerate the discrete assignments, or branch-and-bound over them."""
        if self.n_combos() <= self.options.enumerate_limit:
            incumbent: Found | None = None
            for combo in self.combos():
                f = self.solve_layout(self.model.layout(combo))
                self.tried.append(f)
                incumbent = _better(incumbent, f, self.rows)
            assert incumbent is not None
            return incumbent
        return self._branch_and_bound()

    def _branch_and_bound(self) -> Found:
        levers = self.model.spec.discrete
        incumbent: Found | None = None

        def node(fixed: dict[str, str], depth: int) -> None:
            nonlocal incumbent
            if depth == len(levers):
                f = self.solve_layout(self.model.layout(fixed))
                self.tried.append(f)
                incumbent = _better(incumbent, f, self.rows)
                return
            rest = tuple(d.name for d in levers[depth:])
            relax = self.solve_layout(self.model.layout(fixed, rest))
            if not relax.feasible:
                return
            if incumbent is not None and incumbent.feasible and relax.point.F <= incumbent.point.F:
                return
            d = levers[depth]
            start = len(self.model.spec.continuous)
            w = relax.point.u[start : start + len(d.choices)]
            for i in np.argsort(-w, kind="stable"):
                node({**fixed, d.name: d.choices[int(i)]}, depth + 1)

        node({}, 0)
        if incumbent is None:  # everything pruned: solve the first assignment for a diagnosis
            f = self.solve_layout(self.model.layout(self.combos()[0]))
            self.tried.append(f)
            incumbent = f
        return incumbent


def _better(a: Found | None, b: Found, rows: Sequence[Row]) -> Found:
    if a is None:
        return b
    if a.feasible != b.feasible:
        return a if a.feasible else b
    if a.feasible:
        return b if b.point.F > a.point.F else a
    return b if b.point.max_violation(rows) < a.point.max_violation(rows) else a


def check_finite(spec: Spec, found: Found) -> None:
    """Raise if the optimum sits where an expression is not finite (e.g. division by zero)."""
    p = found.point
    prob = found.problem
    near = [u for u in prob.nonfinite if np.max(np.abs(u - p.u), initial=0.0) <= 1e-6]
    if p.finite and not near:
        return
    raise nonfinite_error(spec, prob.run(near[0]) if near else p, prob.layout)


def nonfinite_error(spec: Spec, p: Point, layout: Layout) -> ExpressionError:
    where = ", ".join(f"{n}={v:.6g}" for n, v in zip(layout.names, p.x, strict=False))
    where = ", ".join(filter(None, [where, *(f"{k}={v}" for k, v in layout.fixed.items())]))
    for name, node in spec.quantities.items():
        if np.all(np.isfinite(np.asarray(value_of(p.env[name]), dtype=float))):
            continue
        for div in _divisions(node):
            den = np.asarray(value_of(div.right.evaluate(p.env)), dtype=float)
            if np.any(den == 0):
                return ExpressionError(
                    f"quantities.{name}: division by zero at the optimum ({div.right.text!r} = 0 "
                    f"at {where}); valid: a denominator that stays nonzero within the lever "
                    f"bounds (narrow the levers' min/max, or write max({div.right.text}, 1e-9))",
                    file=spec.source,
                )
        return ExpressionError(
            f"quantities.{name}: not finite at the optimum (at {where}): log or sqrt of a "
            "non-positive number, or overflow; valid: an expression finite within the bounds",
            file=spec.source,
        )
    return ExpressionError(
        f"objective: not finite at the optimum (at {where}); valid: objective and constraints "
        "finite within the lever bounds",
        file=spec.source,
    )


def _divisions(node: Node) -> list[BinOp]:
    out: list[BinOp] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, BinOp) and n.op == "/":
            out.append(n)
        for attr in ("left", "right", "operand"):
            child = getattr(n, attr, None)
            if isinstance(child, Node):
                stack.append(child)
        stack.extend(getattr(n, "args", ()))
    return out
