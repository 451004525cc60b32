"""Evaluating a spec: every quantity with its exact gradient, for one or many growth draws.

:class:`BusinessModel` turns a :class:`~bizmodel.optimize.spec.Spec` into a function of a
variable vector ``x``. A :class:`Layout` says what ``x`` holds: the continuous levers, in spec
order, then — for discrete levers that are *relaxed* (branch-and-bound bounds) — one weight per
choice, whose choice constants and ``lever=level`` indicators become weighted averages. Fixed
discrete levers contribute their chosen constants.

Examples
--------
>>> from bizmodel.optimize.spec import Spec
>>> spec = Spec.from_dict({
...     "levers": {"p": {"min": 1.0, "max": 50.0}},
...     "growth": {"intercept": 2.0, "coefficients": {"p": -0.1}},
...     "quantities": {"revenue": "growth * p"},
...     "objective": {"maximize": {"revenue": 1.0}},
... })
>>> m = BusinessModel(spec)
>>> env = m.evaluate(m.layout({}), np.array([10.0]))
>>> round(float(env["revenue"].val), 4), abs(round(float(env["revenue"].grad[0]), 6))
(27.1828, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bizmodel.optimize.dual import Dual, Dual2, dexp
from bizmodel.optimize.spec import GROWTH, DiscreteLever, Spec


@dataclass(frozen=True)
class Layout:
    """What the variable vector holds for one discrete assignment (or relaxation)."""

    fixed: Mapping[str, str]  # discrete lever -> chosen choice
    relaxed: tuple[str, ...] = ()  # discrete levers whose choice weights are variables
    lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: tuple[str, ...] = ()  # "price_usd", or "model[small]" for a relaxed weight

    @property
    def n(self) -> int:
        return len(self.names)


class BusinessModel:
    """A compiled spec: ``evaluate(layout, x, theta)`` returns every symbol's value (a Dual)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        g = spec.growth
        self.theta = g.params.copy() if g is not None else np.zeros(0)
        self._discrete: dict[str, DiscreteLever] = {d.name: d for d in spec.discrete}

    def layout(self, fixed: Mapping[str, str], relaxed: tuple[str, ...] = ()) -> Layout:
        """The layout with ``fixed`` choices and ``relaxed`` discrete levers as weights."""
        names = [lv.name for lv in self.spec.continuous]
        lo = [lv.min for lv in self.spec.continuous]
        hi = [lv.max for lv in self.spec.continuous]
        for r in relaxed:
            for c in self._discrete[r].choices:
                names.append(f"{r}[{c}]")
                lo.append(0.0)
                hi.append(1.0)
        return Layout(
            dict(fixed), tuple(relaxed), np.asarray(lo, float), np.asarray(hi, float), tuple(names)
        )

    def evaluate(
        self,
        layout: Layout,
        x: np.ndarray,
        theta: np.ndarray | None = None,
        grad: bool = True,
        hess: bool = False,
    ) -> dict[str, Any]:
        """Every symbol at ``x``; ``theta`` (``(p,)`` or ``(S, p)``) overrides the growth fit.

        With ``grad`` every value is a :class:`~bizmodel.optimize.dual.Dual` or a constant;
        with ``hess`` too, a :class:`~bizmodel.optimize.dual.Dual2` carrying the Hessian;
        without, plain numpy values. Invalid operations give inf/nan, never exceptions.
        """
        spec = self.spec
        n = layout.n
        env: dict[str, Any] = {}
        var = Dual2.variable if hess else Dual.variable
        xs: list[Any] = [
            var(float(v), i, n) if grad or hess else np.float64(v) for i, v in enumerate(x)
        ]
        for i, lv in enumerate(spec.continuous):
            env[lv.name] = xs[i]
        indicators: dict[str, Any] = {}
        k = len(spec.continuous)
        for d in spec.discrete:
            if d.name in layout.relaxed:
                w = xs[k : k + len(d.choices)]
                k += len(d.choices)
                for cname in d.constant_names:
                    env[cname] = sum(
                        wi * d.constants[c][cname] for wi, c in zip(w, d.choices, strict=False)
                    )
                if d.values is not None:
                    env[d.name] = sum(wi * v for wi, v in zip(w, d.values, strict=False))
                for wi, c in zip(w, d.choices, strict=False):
                    indicators[f"{d.name}={c}"] = wi
            else:
                choice = layout.fixed[d.name]
                for cname, v in d.constants[choice].items():
                    env[cname] = np.float64(v)
                if d.values is not None:
                    env[d.name] = np.float64(d.values[d.choices.index(choice)])
                for c in d.choices:
                    indicators[f"{d.name}={c}"] = np.float64(c == choice)
        for cname, v in spec.constants.items():
            env[cname] = np.float64(v)
        th = self.theta if theta is None else np.asarray(theta, dtype=float)
        with np.errstate(all="ignore"):
            for qname, node in spec.quantities.items():
                if qname == GROWTH:
                    env[GROWTH] = self._growth(env, indicators, th)
                else:
                    env[qname] = node.evaluate(env)
        return env

    def _growth(self, env: Mapping[str, Any], indicators: Mapping[str, Any], th: np.ndarray) -> Any:
        g = self.spec.growth
        assert g is not None
        eta: Any = th[..., 0]
        for j, feat in enumerate(g.features, start=1):
            v = indicators[feat] if feat in indicators else env[feat]
            eta = v * th[..., j] + eta
        out = dexp(eta)
        if g.exposure is not None:
            out = out * g.exposure.evaluate(env)
        return out
