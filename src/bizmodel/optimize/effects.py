"""Whether a recommendation rests on growth effects that the data do not establish.

The levers of an optimum move the objective through the growth model's coefficients on them:
a coefficient on a lever (``price_usd``), on one of a discrete lever's levels
(``model=large``) or on a constant a choice brings (``model_quality``). When such a
coefficient's ``1 - alpha`` interval ``a ± z se(a)`` includes 0 (equivalently its two-sided
z-test has ``p > alpha``), the data cannot tell that lever's effect from none, and the
recommended value of that lever rests on a point estimate. Each such coefficient is named in
:attr:`~bizmodel.optimize.OptimizationResult.warnings`, with the robust mode that optimises
over the coefficients' uncertainty instead (``optimize(..., robust=0.1)``, ``--robust 0.1``).

Without the coefficients' uncertainty (an inline growth without ``std_errors`` or ``cov``)
nothing can be said and no effect is listed.

Examples
--------
>>> from bizmodel.optimize.spec import Spec
>>> spec = Spec.from_dict({
...     "levers": {"email": {"min": 0.0, "max": 1.0}},
...     "growth": {"intercept": 0.0, "coefficients": {"email": 0.02},
...                "std_errors": {"email": 0.02}},
...     "quantities": {"users": "growth"},
...     "objective": {"maximize": {"users": 1.0}},
... })
>>> [(e.coefficient, e.lever, round(e.p_value, 4), e.significant) for e in growth_effects(spec)]
[('email', 'email', 0.3173, False)]
"""

from __future__ import annotations

import math

from scipy import stats

from bizmodel.errors import SpecError
from bizmodel.optimize.results import GrowthEffect
from bizmodel.optimize.spec import Spec

__all__ = ["growth_effects"]


def growth_effects(spec: Spec, alpha: float = 0.05) -> tuple[GrowthEffect, ...]:
    """Every growth coefficient a lever acts through, with its z-test and ``1 - alpha`` CI.

    Levers that cannot move (``min == max``, a single choice) are left out: no value of theirs
    is recommended.
    """
    if not 0 < alpha < 1:
        raise SpecError(f"alpha: got {alpha!r}; valid: a number in (0, 1)", file=spec.source)
    g = spec.growth
    if g is None or g.cov is None:
        return ()
    movable = {lv.name for lv in spec.continuous if lv.max > lv.min}
    movable |= {d.name for d in spec.discrete if len(d.choices) > 1}
    owner: dict[str, str] = {lv.name: lv.name for lv in spec.continuous}
    for d in spec.discrete:
        owner |= {c: d.name for c in d.constant_names}
        owner |= {f"{d.name}={c}": d.name for c in d.choices}
        if d.values is not None:
            owner[d.name] = d.name
    z_crit = float(stats.norm.ppf(1 - alpha / 2))
    out = []
    for j, name in enumerate(g.features, start=1):
        lever = owner.get(name)
        if lever is None or lever not in movable:
            continue
        est, se = float(g.params[j]), float(math.sqrt(max(g.cov[j, j], 0.0)))
        # a zero standard error (a fixed coefficient): the effect is known, or known absent
        p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else float(est == 0)
        out.append(
            GrowthEffect(
                coefficient=name,
                lever=lever,
                estimate=est,
                std_error=se,
                p_value=p,
                ci_low=est - z_crit * se,
                ci_high=est + z_crit * se,
                alpha=alpha,
                source=g.source,
            )
        )
    return tuple(out)
