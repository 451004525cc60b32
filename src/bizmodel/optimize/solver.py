"""The optimizer: maximise f(x) = Σ λ_i f_i(x) / s_i over the levers, under the constraints.

Objective normalisation (what λ means)
--------------------------------------
Each term ``f_i`` (``maximize``; a ``minimize`` term enters as ``-f_i``) is divided by a scale
``s_i`` before weighting:

* ``normalize = "none"``: ``s_i = 1``; λ converts units (e.g. dollars per user).
* ``normalize = "range"`` (the default with several terms): first each term is optimised on
  its own under the same bounds and constraints (the *anchors*). ``s_i`` is the range of
  ``f_i`` across the anchors: its best value minus its worst value at the other terms'
  anchors — how much ``f_i`` is at stake in the trade-off. Then
  ``λ = {profit_usd = 1.0, users = 0.3}`` means: going from the worst to the best achievable
  profit is worth 1, from the worst to the best achievable user count 0.3. Adding a constant
  to a term (a fixed cost) or changing its units does not change what λ means. If the terms
  do not conflict (range 0) ``s_i`` falls back to ``|f_i*|``, and to 1 if that is 0.
* ``normalize = "optimum"``: ``s_i = |f_i*|``, the magnitude of the best value on its own;
  ``f_i / s_i`` is then "share of the best achievable". Avoid it for terms whose best value
  is near 0 (a minimised cost), where it blows the term up.
* ``"auto"``: ``"none"`` for a single term (its value is then in its own units, and shadow
  prices are in those units), ``"range"`` for several.
* ``scales = { name = s }`` fixes ``s_i`` by hand for any term.

The optimum is feasible to ``tol`` (violation at most ``tol * max(1, |lhs|, |rhs|)`` per
constraint, bounds exact) or the result's status is ``"infeasible"`` naming the constraint.

Examples
--------
>>> from bizmodel.optimize.spec import Spec
>>> spec = Spec.from_dict({
...     "levers": {"p": {"min": 1.0, "max": 100.0}},
...     "growth": {"intercept": 8.0, "coefficients": {"p": -0.05}},
...     "quantities": {"revenue": "growth * p"},
...     "objective": {"maximize": {"revenue": 1.0}},
... })
>>> res = optimize(spec)
>>> res.status, round(res.levers["p"], 6)   # p* = -1/a = 20
('optimal', 20.0)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from bizmodel.errors import SpecError
from bizmodel.optimize.dual import value_of
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.problem import Counter, Point, Row
from bizmodel.optimize.results import OptimizationResult, PlanEvaluation
from bizmodel.optimize.search import (
    Found,
    Search,
    SearchOptions,
    check_finite,
    constraint_rows,
)
from bizmodel.optimize.spec import Spec, load_spec

SpecLike = Spec | Mapping[str, Any] | str | Path


def as_spec(spec: SpecLike) -> Spec:
    """A :class:`Spec` from a spec, a dict of the TOML structure, or a TOML path."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str | Path):
        return load_spec(spec)
    return Spec.from_dict(spec)


def signed_weights(spec: Spec, weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """``{term: ±λ}`` (negative for minimised terms), with ``weights`` overriding λ."""
    out: dict[str, float] = {}
    for name, w, sign in spec.objective.terms:
        if weights is not None and name in weights:
            w = float(weights[name])
        out[name] = out.get(name, 0.0) + sign * w
    if weights is not None:
        unknown = sorted(set(weights) - set(out))
        if unknown:
            raise SpecError(
                f"objective: weight for unknown term {unknown[0]!r}; valid: " + ", ".join(out),
                file=spec.source,
            )
    return out


def objective_scales(
    spec: Spec, model: BusinessModel, options: SearchOptions, counter: Counter
) -> dict[str, float]:
    """The scales ``s_i`` of the normalisation documented in this module."""
    obj = spec.objective
    signs: dict[str, float] = {}
    for name, _, sign in obj.terms:
        signs.setdefault(name, float(sign))
    mode = obj.normalize
    if mode == "auto":
        mode = "none" if len(signs) == 1 else "range"
    scales = {n: obj.scales[n] for n in signs if n in obj.scales}
    if mode == "none":
        return {n: scales.get(n, 1.0) for n in signs}
    rows = constraint_rows(spec)
    # payoff[i][j]: term j (signed, so larger is better) at the anchor of term i
    payoff: dict[str, dict[str, float]] = {}
    for name, direction in signs.items():
        if name in scales and mode == "optimum":
            continue
        found = Search(model, {name: direction}, rows, options, counter).run()
        if not found.feasible:
            continue  # the main search reports the infeasibility
        payoff[name] = {j: signs[j] * float(np.mean(value_of(found.point.env[j]))) for j in signs}
    for name in signs:
        if name in scales:
            continue
        best = payoff.get(name, {}).get(name)
        if best is None or not np.isfinite(best):
            scales[name] = 1.0
            continue
        spread = 0.0
        if mode == "range":
            worst = min(payoff[i][name] for i in payoff)
            spread = best - worst if np.isfinite(worst) else 0.0
        if spread > 1e-12 * max(1.0, abs(best)):
            scales[name] = spread
        else:
            scales[name] = abs(best) if abs(best) > 0 else 1.0
    return scales


def optimize(
    spec: SpecLike,
    *,
    weights: Mapping[str, float] | None = None,
    n_starts: int = 4,
    seed: int = 0,
    tol: float = 1e-6,
    enumerate_limit: int = 64,
    robust: str | float | None = None,
    samples: int = 200,
    sensitivity: bool = False,
    method: str = "auto",
    closed_form: bool = True,
    alpha: float = 0.05,
) -> OptimizationResult:
    """Find the levers that maximise the spec's objective under its bounds and constraints.

    Parameters
    ----------
    spec : Spec, dict or path
        The business model.
    weights : dict, optional
        Override the objective's λ by term name.
    n_starts : int
        SLSQP starts per discrete assignment (center + Latin hypercube).
    seed : int
        Seed of the starts and of the robustness draws.
    tol : float
        Feasibility tolerance, relative to ``max(1, |lhs|, |rhs|)``.
    enumerate_limit : int
        Above this many discrete assignments, branch-and-bound replaces enumeration.
    robust : None, "expected" or float
        Optimise the expected objective over ``samples`` draws of the growth coefficients from
        their covariance, or its quantile (e.g. ``0.1``); constraints hold on the mean.
    samples : int
        Number of draws for ``robust``.
    sensitivity : bool
        Also report how the optimum moves with each λ and growth coefficient.
    method : {"auto", "slsqp", "newton", "trust-constr"}
        Local solver per start. ``"newton"``: trust-region Newton with exact Hessians
        (second-order forward mode) on subproblems with bounds only, SLSQP otherwise;
        ``"trust-constr"``: scipy's, with exact Hessians of objective and constraints;
        ``"auto"`` (default): ``"newton"`` where it applies, else SLSQP — the combination
        that needed the fewest evaluations in ``benchmarks/optimizer_evals.py``.
    closed_form : bool
        On subproblems with bounds only, first solve the first-order conditions symbolically
        where they are polynomial once positive factors are removed
        (:mod:`bizmodel.optimize.closed_form`) and start from those points; the multi-start
        runs either way. ``False``: numeric only.
    alpha : float
        Significance level of the growth coefficients the levers act through: those whose
        ``1 - alpha`` interval includes 0 are named in the result's ``warnings``
        (:mod:`bizmodel.optimize.effects`).

    Returns
    -------
    OptimizationResult
        Status ``"optimal"`` with a feasible point, or ``"infeasible"`` naming the constraint.

    Examples
    --------
    >>> res = optimize({
    ...     "levers": {"p": {"min": 1.0, "max": 100.0}},
    ...     "growth": {"intercept": 8.0, "coefficients": {"p": -0.05}},
    ...     "quantities": {"profit": "growth * (p - 4)"},
    ...     "objective": {"maximize": {"profit": 1.0}},
    ... })
    >>> round(res.levers["p"], 6)   # p* = c - 1/a = 4 + 20
    24.0
    """
    spec = as_spec(spec)
    from bizmodel.optimize.analysis import draw_coefficients, robustness, sensitivity_report
    from bizmodel.optimize.effects import growth_effects

    effects = growth_effects(spec, alpha)

    options = SearchOptions(n_starts, seed, tol, enumerate_limit, method, closed_form)
    model = BusinessModel(spec)
    counter = Counter()
    scales = objective_scales(spec, model, options, counter)
    signed = signed_weights(spec, weights)
    coefs = {n: w / scales[n] for n, w in signed.items()}
    rows = constraint_rows(spec)
    theta, quantile, mode = None, None, None
    if robust is not None:
        theta = draw_coefficients(spec, samples, seed)
        if robust == "expected":
            mode = "expected"
        elif isinstance(robust, float | int) and 0 < float(robust) < 1:
            quantile = float(robust)
            mode = f"quantile={quantile:g}"
        else:
            raise SpecError(
                f"robust: got {robust!r}; valid: 'expected' or a quantile in (0, 1)",
                file=spec.source,
            )
    search = Search(model, coefs, rows, options, counter, theta, quantile)
    found = search.run()
    if not found.feasible:
        name, message = diagnose_infeasible(search, found)
        return build_result(
            spec,
            found,
            signed,
            scales,
            rows,
            counter,
            "infeasible",
            message,
            infeasible=name,
            growth_effects=effects,
        )
    check_finite(spec, found)
    rob = sens = None
    if mode is not None:
        assert theta is not None
        rob = robustness(search, found, theta, mode)
    if sensitivity:
        sens = sensitivity_report(search, found, signed, scales)
    return build_result(
        spec,
        found,
        signed,
        scales,
        rows,
        counter,
        "optimal",
        "",
        robustness=rob,
        sensitivity=sens,
        closed_form=found.closed_form,
        growth_effects=effects,
    )


def diagnose_infeasible(search: Search, found: Found) -> tuple[str, str]:
    """Name the constraint that cannot be met, and say how close the best attempt came."""
    rows = search.rows
    p = found.point
    viol = p.violations(rows)
    order = [int(j) for j in np.argsort(-viol) if viol[j] > search.options.tol]
    if not order:
        return "", "no point satisfies every constraint"
    tried = search.tried or [found]
    for j in order:
        closest: Point | None = None
        for f in tried:
            q = f.problem.minimize_row(j, f.point.u)
            if closest is None or q.violations(rows)[j] < closest.violations(rows)[j]:
                closest = q
        assert closest is not None
        if closest.violations(rows)[j] > search.options.tol:
            return rows[j].name, _cannot(search, rows[j], closest, j, "within the lever bounds")
    j = order[0]
    others = [rows[k].name for k in order[1:]] or [r.name for r in rows if r.name != rows[j].name]
    return rows[j].name, _cannot(
        search, rows[j], p, j, "together with " + ", ".join(repr(o) for o in others)
    )


def _cannot(search: Search, row: Row, p: Point, j: int, why: str) -> str:
    c = next(c for c in search.model.spec.constraints if c.name == row.name)
    left = float(np.mean(value_of(c.node.left.evaluate(p.env))))
    right = float(np.mean(value_of(c.node.right.evaluate(p.env))))

    def side(text: str, value: float) -> str:
        try:  # a literal needs no "= value"
            float(text)
            return text
        except ValueError:
            return f"{text} = {value:.6g}"

    return (
        f"constraint {row.name!r} cannot be met {why}: closest is "
        f"{side(c.node.left.text, left)} {c.node.op} {side(c.node.right.text, right)}"
    )


def lever_values(found: Found) -> dict[str, float | str]:
    spec = found.problem.model.spec
    layout = found.problem.layout
    out: dict[str, float | str] = {
        lv.name: float(v) for lv, v in zip(spec.continuous, found.point.x, strict=False)
    }
    for d in spec.discrete:
        choice = layout.fixed.get(d.name)
        if choice is None:  # relaxed (only in diagnostics): the heaviest choice
            k = len(spec.continuous) + sum(
                len(e.choices)
                for e in spec.discrete
                if e.name in layout.relaxed and spec.discrete.index(e) < spec.discrete.index(d)
            )
            choice = d.choices[int(np.argmax(found.point.u[k : k + len(d.choices)]))]
        out[d.name] = float(d.values[d.choices.index(choice)]) if d.values else choice
    return out


def shadow_prices(found: Found, tol: float) -> tuple[dict[str, float], list[str], float]:
    """KKT multipliers of the active constraints and bounds at the optimum.

    Solves ``∇F = Σ μ_j ∇g_j + Σ ν_i (±e_i)`` with ``μ, ν >= 0`` by non-negative least
    squares in the levers' own units; ``μ_j`` is the objective gained per unit the constraint
    is loosened. Returns (prices, binding names, KKT residual): the residual is the largest
    objective change, relative to the objective, that the unexplained part of the gradient
    would give over a lever's whole range (near 0 at a true optimum).
    """
    prob, p = found.problem, found.point
    rows = prob.rows
    span = np.where(prob.span > 0, prob.span, 1.0)
    grad = p.dF / span
    viol = p.violations(rows)
    cols: list[np.ndarray] = []
    names: list[tuple[str, float]] = []  # (name, sign applied to the coefficient)
    binding: list[str] = []
    for j, row in enumerate(rows):
        if row.eq or abs(viol[j]) <= 10 * prob.tol:
            binding.append(row.name)
            cols.append(p.dg[j] / span)
            names.append((row.name, 1.0))
            if row.eq:
                cols.append(-p.dg[j] / span)
                names.append((row.name, -1.0))
    for i, lname in enumerate(prob.layout.names):
        if prob.span[i] <= 0:
            continue
        e = np.zeros(prob.n)
        e[i] = 1.0
        if p.u[i] >= 1.0 - 1e-9:
            binding.append(f"levers.{lname}.max")
            cols.append(e)
            names.append((f"levers.{lname}.max", 1.0))
        elif p.u[i] <= 1e-9:
            binding.append(f"levers.{lname}.min")
            cols.append(-e)
            names.append((f"levers.{lname}.min", 1.0))
    prices: dict[str, float] = {}
    resid = 0.0
    if cols:
        A = np.column_stack(cols)
        mu, _ = nnls(A, grad)
        for (name, s), m in zip(names, mu, strict=False):
            prices[name] = prices.get(name, 0.0) + s * float(m)
        left = grad - A @ mu
    else:
        left = grad
    # objective change, relative to the objective, if each lever moved across its whole range
    resid = float(np.max(np.abs(left * prob.span), initial=0.0)) / max(abs(p.F), 1e-12)
    return prices, binding, resid


def build_result(
    spec: Spec,
    found: Found,
    signed: Mapping[str, float],
    scales: Mapping[str, float],
    rows: list[Row],
    counter: Counter,
    status: str,
    message: str,
    infeasible: str | None = None,
    **extra: Any,
) -> OptimizationResult:
    p = found.point
    env = p.env
    quantities = {name: float(np.mean(value_of(env[name]))) for name in spec.quantities}
    terms = {name: float(np.mean(value_of(env[name]))) for name in signed}
    slack: dict[str, float] = {}
    for row, g in zip(rows, p.g, strict=False):
        slack[row.name] = float(-abs(g) if row.eq else -g)
    prices: dict[str, float] = {}
    binding: list[str] = []
    resid = 0.0
    if status == "optimal":
        prices, binding, resid = shadow_prices(found, found.problem.tol)
    return OptimizationResult(
        status=status,
        levers=lever_values(found),
        quantities=quantities,
        # the search's own objective: for robust runs the mean or quantile over the draws
        objective=float(p.F),
        objective_terms=terms,
        weights=dict(signed),
        scales=dict(scales),
        binding_constraints=tuple(binding),
        shadow_prices=prices,
        slack=slack,
        evaluations=counter.n,
        message=message,
        infeasible_constraint=infeasible,
        kkt_residual=resid,
        sources=spec.choice_sources,
        **extra,
    )


def evaluate_plan(spec: SpecLike, levers: Mapping[str, float | str]) -> PlanEvaluation:
    """Every quantity, the objective and each constraint's slack for given lever values.

    Examples
    --------
    >>> plan = evaluate_plan({
    ...     "levers": {"p": {"min": 1.0, "max": 100.0}},
    ...     "quantities": {"revenue": "100 * p"},
    ...     "objective": {"maximize": {"revenue": 1.0}},
    ...     "constraints": ["revenue <= 1000"],
    ... }, {"p": 20})
    >>> plan.quantities["revenue"], plan.feasible, plan.violated
    (2000.0, False, ('revenue <= 1000',))
    """
    spec = as_spec(spec)
    model = BusinessModel(spec)
    known = spec.lever_names
    for k in levers:
        if k not in known:
            raise SpecError(
                f"levers.{k}: unknown lever; valid: {', '.join(known)}", file=spec.source
            )
    missing = [k for k in known if k not in levers]
    if missing:
        raise SpecError(
            f"levers.{missing[0]}: no value given; set every lever ({', '.join(known)})",
            file=spec.source,
        )
    x = []
    for lv in spec.continuous:
        try:
            v = float(levers[lv.name])
        except (TypeError, ValueError):
            raise SpecError(
                f"levers.{lv.name}: {levers[lv.name]!r} is not a number; valid: a "
                f"number in [{lv.min:g}, {lv.max:g}]",
                file=spec.source,
            ) from None
        if not lv.min <= v <= lv.max:
            raise SpecError(
                f"levers.{lv.name}: {v:g} is outside the bounds; valid: [{lv.min:g}, {lv.max:g}]",
                file=spec.source,
            )
        x.append(v)
    fixed: dict[str, str] = {}
    for d in spec.discrete:
        raw = levers[d.name]
        choice = str(raw)
        if d.values is not None:
            with contextlib.suppress(TypeError, ValueError):
                choice = f"{float(raw):g}"
        if choice not in d.choices:
            raise SpecError(
                f"levers.{d.name}: unknown choice {raw!r}; valid: {', '.join(d.choices)}",
                file=spec.source,
            )
        fixed[d.name] = choice
    layout = model.layout(fixed)
    env = model.evaluate(layout, np.asarray(x, dtype=float), grad=False)
    counter = Counter()
    scales = objective_scales(spec, model, SearchOptions(), counter)
    signed = signed_weights(spec)
    terms = {n: float(env[n]) for n in signed}
    rows = constraint_rows(spec)
    slack: dict[str, float] = {}
    violated: list[str] = []
    for row in rows:
        a, b = float(row.a(env)), float(row.b(env))
        g = a - b
        slack[row.name] = -abs(g) if row.eq else -g
        scale = max(1.0, abs(a), abs(b))
        if not np.isfinite(g) or (abs(g) if row.eq else g) > 1e-6 * scale:
            violated.append(row.name)
    out_levers: dict[str, float | str] = {
        lv.name: v for lv, v in zip(spec.continuous, x, strict=False)
    }
    for d in spec.discrete:
        ch = fixed[d.name]
        out_levers[d.name] = float(d.values[d.choices.index(ch)]) if d.values else ch
    return PlanEvaluation(
        levers=out_levers,
        quantities={n: float(env[n]) for n in spec.quantities},
        objective=float(sum(w / scales[n] * terms[n] for n, w in signed.items())),
        objective_terms=terms,
        slack=slack,
        feasible=not violated,
        violated=tuple(violated),
        sources=spec.choice_sources,
    )
