"""Which costs a business spec declares, so a margin subtracts all of them, not only compute.

A spec's margin is a quantity ``margin = profit / revenue`` (or a quantity named ``profit*``);
its numerator, expanded through ``+``, ``-`` and the quantities it names, is a signed sum of
terms: the subtracted ones are the costs. For the packaged SaaS spec::

    profit_usd = revenue_usd - cost_usd
    cost_usd   = ad_spend_usd + requests * inference_cost_usd

gives the costs ``ad_spend_usd`` and ``requests * inference_cost_usd``. A cost term that reads
a constant named ``*inference*`` or ``*compute*`` is the served model's compute, which the event
store measures per prediction; every other cost is known only to the plan.

Examples
--------
>>> from bizmodel.optimize import example_spec_path, load_spec
>>> margin = spec_margin(load_spec(example_spec_path("saas")))
>>> margin.quantity, [t.text for t in margin.costs], [t.compute for t in margin.costs]
('margin', ['ad_spend_usd', 'requests * inference_cost_usd'], [False, True])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CostTerm", "SpecMargin", "plan_margin", "spec_margin"]

COMPUTE_WORDS = ("inference", "compute")  # a cost term reading such a name is compute cost


@dataclass(frozen=True)
class CostTerm:
    """One subtracted term of the spec's profit."""

    text: str  # as written in the spec, e.g. "requests * inference_cost_usd"
    node: Any  # bizmodel.optimize.expr.Node
    compute: bool  # priced by the served model's compute (measured in the store)


@dataclass(frozen=True)
class SpecMargin:
    """The spec's margin quantity and its cost terms (empty when it declares no margin)."""

    quantity: str | None  # the margin (or profit) quantity it was read from
    revenue: tuple[Any, ...]  # the added terms (expression nodes)
    costs: tuple[CostTerm, ...]

    @property
    def beyond_compute(self) -> tuple[str, ...]:
        """Cost terms other than compute: what a compute-only margin leaves out."""
        return tuple(t.text for t in self.costs if not t.compute)


def _expand(node: Any, sign: int, quantities: Mapping[str, Any]) -> list[tuple[int, Any]]:
    from bizmodel.optimize.expr import BinOp, Neg, Var

    if isinstance(node, BinOp) and node.op in "+-":
        right = sign if node.op == "+" else -sign
        return _expand(node.left, sign, quantities) + _expand(node.right, right, quantities)
    if isinstance(node, Neg):
        return _expand(node.operand, -sign, quantities)
    if isinstance(node, Var) and node.name in quantities:
        inner = quantities[node.name]
        if isinstance(inner, BinOp | Neg) and getattr(inner, "op", "-") in "+-":
            return _expand(inner, sign, quantities)
    return [(sign, node)]


def spec_margin(spec: Any) -> SpecMargin:
    """The margin's revenue and cost terms of ``spec`` (a :class:`~bizmodel.optimize.spec.Spec`).

    The numerator of a quantity named ``margin`` or ``gross_margin`` (``profit / revenue``),
    else the first quantity whose name starts with ``profit``, expanded into signed terms.
    """
    from bizmodel.optimize.expr import BinOp

    qs = spec.quantities
    source = next((n for n in ("gross_margin", "margin") if n in qs), None)
    top = None
    if source is not None and isinstance(qs[source], BinOp) and qs[source].op == "/":
        top = qs[source].left
    if top is None:
        source = next((n for n in qs if n.startswith("profit")), None)
        top = qs[source] if source is not None else None
    if top is None:
        return SpecMargin(None, (), ())
    terms = _expand(top, 1, qs)
    costs = tuple(
        CostTerm(n.text, n, any(w in name for name in n.names() for w in COMPUTE_WORDS))
        for s, n in terms
        if s < 0
    )
    return SpecMargin(source, tuple(n for s, n in terms if s > 0), costs)


def plan_margin(spec: Any, evaluation: Any) -> dict[str, Any]:
    """The margin at an evaluated plan with every cost term's amount.

    ``evaluation`` is :func:`bizmodel.optimize.evaluate_plan`'s result. Returns ``quantity``,
    ``revenue_usd`` (the sum of the added terms), ``costs`` (``[{term, usd, compute}]``),
    ``margin`` (``(revenue - Σ costs) / revenue``; None without revenue), ``included`` (every
    cost term) and ``beyond_compute`` (those the event store does not measure).
    """
    margin = spec_margin(spec)
    env: dict[str, Any] = dict(spec.constants)
    for d in spec.discrete:
        choice = str(evaluation.levers[d.name])
        env.update(d.constants.get(choice, {}))
        if d.values is not None:
            env[d.name] = float(choice)
    env.update({lv.name: float(evaluation.levers[lv.name]) for lv in spec.continuous})
    env.update(evaluation.quantities)
    revenue = sum(float(node.evaluate(env)) for node in margin.revenue)
    amounts = [float(t.node.evaluate(env)) for t in margin.costs]
    costs = [
        {"term": t.text, "usd": usd, "compute": t.compute}
        for t, usd in zip(margin.costs, amounts, strict=True)
    ]
    total = sum(amounts)
    return {
        "quantity": margin.quantity,
        "revenue_usd": revenue,
        "costs": costs,
        "cost_usd": total,
        "margin": (revenue - total) / revenue if revenue else None,
        "included": [c["term"] for c in costs],
        "beyond_compute": list(margin.beyond_compute),
    }
