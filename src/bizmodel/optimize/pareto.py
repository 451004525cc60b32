"""The Pareto front between two or more objectives: weight sweep plus ε-constraint.

First each objective is optimised alone (the anchors); their payoff table gives each
objective's best (utopia) and worst-among-anchors (nadir) value, and the objectives are scaled
by that range. The weight sweep maximises ``Σ w_i f_i / range_i`` over a grid of weights; it
finds the convex part of the front. The ε-constraint method maximises the first objective
subject to ``f_j >= ε_j`` for a grid of ε between nadir and utopia; it also finds points in
non-convex parts. Dominated and duplicate points are dropped. Directions: an objective that the
spec minimises, or a name written ``-name``, is minimised; others are maximised.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bizmodel.errors import SpecError
from bizmodel.optimize.dual import value_of
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.problem import Counter, Row
from bizmodel.optimize.results import ParetoPoint, ParetoResult
from bizmodel.optimize.search import Found, Search, SearchOptions, check_finite, constraint_rows
from bizmodel.optimize.solver import SpecLike, as_spec, diagnose_infeasible, lever_values
from bizmodel.optimize.spec import Spec


def _directions(spec: Spec, objectives: Sequence[str]) -> list[tuple[str, float]]:
    minimized = {t[0] for t in spec.objective.terms if t[2] < 0}
    valid = set(spec.quantities) | {lv.name for lv in spec.continuous}
    out: list[tuple[str, float]] = []
    for raw in objectives:
        name = raw.strip()
        sign = 1.0
        if name.startswith("-"):
            name, sign = name[1:].strip(), -1.0
        elif name in minimized:
            sign = -1.0
        if name not in valid:
            raise SpecError(
                f"pareto: unknown objective {name!r}; valid: " + ", ".join(sorted(valid)),
                file=spec.source,
            )
        out.append((name, sign))
    if len(out) < 2 or len({n for n, _ in out}) != len(out):
        raise SpecError(
            f"pareto: needs two or more different objectives, got {list(objectives)}",
            file=spec.source,
        )
    return out


def pareto(
    spec: SpecLike,
    objectives: Sequence[str],
    points: int = 11,
    *,
    n_starts: int = 4,
    seed: int = 0,
    tol: float = 1e-6,
) -> ParetoResult:
    """Non-dominated plans between ``objectives`` (quantity names; ``-name`` to minimise).

    When the constraints cannot all be met, the result's ``status`` is ``"infeasible"`` with
    the binding constraint, the shortfall and the closest plan (no exception: only a malformed
    spec raises).

    Examples
    --------
    >>> from bizmodel.optimize import example_spec_path
    >>> front = pareto(example_spec_path("saas"), ["profit_usd", "users"], points=5)
    >>> len(front.points) >= 3, front.senses
    (True, ('max', 'max'))
    """
    spec = as_spec(spec)
    if points < 2:
        raise SpecError(f"pareto: points must be >= 2, got {points}", file=spec.source)
    dirs = _directions(spec, objectives)
    names = [n for n, _ in dirs]
    signs = np.array([s for _, s in dirs])
    model = BusinessModel(spec)
    counter = Counter()
    options = SearchOptions(n_starts, seed, tol)
    rows = constraint_rows(spec)
    found: list[tuple[Found, str]] = []
    anchors = []
    for name, sign in dirs:
        search = Search(model, {name: sign}, rows, options, counter)
        f = search.run()
        if not f.feasible:
            cname, message = diagnose_infeasible(search, f)
            closest = ParetoPoint(
                values={n: float(np.mean(value_of(f.point.env[n]))) for n in names},
                levers=lever_values(f),
                method="closest",
            )
            return ParetoResult(
                tuple(names),
                tuple("max" if s > 0 else "min" for s in signs),
                (),
                counter.n,
                status="infeasible",
                message=message,
                infeasible_constraint=cname or None,
                closest=closest,
                sources=spec.choice_sources,
            )
        check_finite(spec, f)
        anchors.append(f)
        found.append((f, "anchor"))

    def values(f: Found) -> np.ndarray:  # in maximisation sense
        return signs * np.array([float(np.mean(value_of(f.point.env[n]))) for n in names])

    payoff = np.array([values(f) for f in anchors])
    utopia = np.diag(payoff).copy()
    nadir = payoff.min(axis=0)
    span = np.maximum(utopia - nadir, 1e-12 * np.maximum(1.0, np.abs(utopia)))
    k = len(names)
    grid = np.linspace(0.0, 1.0, points)
    for w in itertools.product(grid, repeat=k - 1):
        if sum(w) > 1.0 + 1e-12:
            continue
        weights = np.array([*w, 1.0 - sum(w)])
        coefs = {
            n: float(s * wi / r) for n, s, wi, r in zip(names, signs, weights, span, strict=False)
        }
        f = Search(model, coefs, rows, options, counter).run()
        if f.feasible:
            found.append((f, "weights"))
    per_dim = max(2, round(points ** (1.0 / max(k - 1, 1))) if k > 2 else points)
    eps_axes = [np.linspace(nadir[j], utopia[j], per_dim) for j in range(1, k)]
    for eps in itertools.product(*eps_axes):
        extra = [
            _floor_row(names[j], float(signs[j]), float(e))
            for j, e in zip(range(1, k), eps, strict=False)
        ]
        f = Search(model, {names[0]: float(signs[0])}, rows + extra, options, counter).run()
        if f.feasible:
            found.append((f, "epsilon"))
    vals = [values(f) for f, _ in found]
    keep: list[int] = []
    tol_v = 1e-7 * span
    for i, v in enumerate(vals):
        dominated = any(
            np.all(u >= v - tol_v) and np.any(u > v + tol_v) for j, u in enumerate(vals) if j != i
        )
        duplicate = any(np.all(np.abs(vals[j] - v) <= tol_v) for j in keep)
        if not dominated and not duplicate:
            keep.append(i)
    keep.sort(key=lambda i: vals[i][0])
    pts = tuple(
        ParetoPoint(
            values={n: float(s * x) for n, s, x in zip(names, signs, vals[i], strict=False)},
            levers=lever_values(found[i][0]),
            method=found[i][1],
        )
        for i in keep
    )
    return ParetoResult(
        tuple(names),
        tuple("max" if s > 0 else "min" for s in signs),
        pts,
        counter.n,
        sources=spec.choice_sources,
    )


def _floor_row(name: str, sign: float, eps: float) -> Row:
    """The ε-constraint ``sign · name >= eps`` as a row ``eps - sign · name <= 0``."""

    def a(env: Mapping[str, Any]) -> Any:
        return eps

    def b(env: Mapping[str, Any]) -> Any:
        return sign * env[name]

    return Row(f"epsilon:{name}", a, b)
