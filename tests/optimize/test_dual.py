"""Second-order forward mode (Dual2): every operation against closed forms and differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from bizmodel.optimize.dual import Dual, Dual2, dabs, dexp, dlog, dmax, dmin, dpow, dsqrt
from bizmodel.optimize.expr import parse
from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.spec import Spec

# (function of one dual, f, f', f'') on x = 1.7: closed forms of value, slope and curvature
UNARY: list[tuple[str, Callable[[Any], Any], float, float, float]] = [
    ("exp", dexp, math.exp(1.7), math.exp(1.7), math.exp(1.7)),
    ("log", dlog, math.log(1.7), 1 / 1.7, -1 / 1.7**2),
    ("sqrt", dsqrt, math.sqrt(1.7), 0.5 / math.sqrt(1.7), -0.25 * 1.7**-1.5),
    ("abs", dabs, 1.7, 1.0, 0.0),
    ("x^3", lambda a: a**3, 1.7**3, 3 * 1.7**2, 6 * 1.7),
    ("x^-2", lambda a: dpow(a, -2), 1.7**-2, -2 * 1.7**-3, 6 * 1.7**-4),
    ("2^x", lambda a: 2.0**a, 2**1.7, math.log(2) * 2**1.7, math.log(2) ** 2 * 2**1.7),
    (
        "x^x",
        lambda a: a**a,
        1.7**1.7,
        1.7**1.7 * (math.log(1.7) + 1),
        1.7**1.7 * ((math.log(1.7) + 1) ** 2 + 1 / 1.7),
    ),
    ("1/x", lambda a: 1.0 / a, 1 / 1.7, -1 / 1.7**2, 2 / 1.7**3),
    ("x*x/(x+1)", lambda a: a * a / (a + 1.0), 1.7**2 / 2.7, 1 - 1 / 2.7**2, 2 / 2.7**3),
    ("3-x", lambda a: 3.0 - a, 1.3, -1.0, 0.0),
]


@pytest.mark.parametrize(("name", "f", "v", "d1", "d2"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_closed_forms(
    name: str, f: Callable[[Any], Any], v: float, d1: float, d2: float
) -> None:
    out = f(Dual2.variable(1.7, 0, 1))
    assert float(out.val) == pytest.approx(v, rel=1e-12)
    assert float(out.grad[0]) == pytest.approx(d1, rel=1e-12)
    assert float(out.hess[0, 0]) == pytest.approx(d2, rel=1e-12, abs=1e-15)


def test_binary_closed_forms() -> None:
    x, y = Dual2.variable(2.0, 0, 2), Dual2.variable(3.0, 1, 2)
    p = x * y * y  # x y^2: H = [[0, 2y], [2y, 2x]]
    np.testing.assert_allclose(p.grad, [9.0, 12.0])
    np.testing.assert_allclose(p.hess, [[0.0, 6.0], [6.0, 4.0]])
    q = x / y  # H = [[0, -1/y^2], [-1/y^2, 2x/y^3]]
    np.testing.assert_allclose(q.grad, [1 / 3, -2 / 9])
    np.testing.assert_allclose(q.hess, [[0.0, -1 / 9], [-1 / 9, 4 / 27]])
    e = dexp(x * y)  # H = e^{xy} [[y^2, 1 + xy], [1 + xy, x^2]]
    np.testing.assert_allclose(e.hess, math.exp(6) * np.array([[9.0, 7.0], [7.0, 4.0]]))


def test_min_max_pick_the_hessian_of_the_winner() -> None:
    x, y = Dual2.variable(2.0, 0, 2), Dual2.variable(3.0, 1, 2)
    lo = dmin(x * x, y, 10.0)  # x^2 = 4 > y = 3: y wins
    np.testing.assert_allclose(lo.hess, np.zeros((2, 2)))
    hi = dmax(x * x, y, 1.0)
    np.testing.assert_allclose(hi.hess, [[2.0, 0.0], [0.0, 0.0]])
    const = dmax(x, 7.0)  # the constant wins: zero gradient and Hessian
    assert float(const.val) == 7.0
    np.testing.assert_allclose(const.hess, np.zeros((2, 2)))


def test_first_order_path_is_unchanged() -> None:
    x = Dual.variable(1.5, 0, 1)
    out = dexp(x) * dlog(x) / dsqrt(x) + dmax(x, 1.0)
    assert type(out) is Dual and not hasattr(out, "hess")


def test_broadcast_over_scenarios() -> None:
    # a value of shape (S,) (sampled growth draws) carries a Hessian of shape (S, n, n)
    x = Dual2.variable(1.0, 0, 2)
    y = Dual2.variable(2.0, 1, 2)
    w = np.array([1.0, 2.0, 3.0])
    out = dexp(x * w) * y
    assert out.hess.shape == (3, 2, 2)
    for s, ws in enumerate(w):
        e = math.exp(ws)
        np.testing.assert_allclose(out.hess[s], [[ws * ws * e * 2, ws * e], [ws * e, 0.0]])


# Random expressions through the spec parser: Dual2 against the first-order Dual (gradient)
# and against central differences of that exact gradient (Hessian).
_LEAF = st.sampled_from(["x", "y", "z", "0.7", "2", "1.5"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    unary = st.tuples(
        st.sampled_from(["exp(0.3 * ", "log(1 + abs(", "sqrt(2 + ", "abs("]), children
    ).map(lambda t: t[0] + t[1] + ")" * (2 if "abs(" in t[0] and "log" in t[0] else 1))
    power = st.tuples(children, st.sampled_from(["2", "3", "-1", "0.5"])).map(
        lambda t: f"(1 + {t[0]} * {t[0]}) ^ {t[1]}"
    )
    picks = st.tuples(st.sampled_from(["min", "max"]), children, children).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    )
    return binary | unary | power | picks


EXPRESSIONS = st.recursive(_LEAF, _combine, max_leaves=8)


def _vars(p: np.ndarray) -> dict[str, Dual2]:
    return {
        k: Dual2.variable(float(v), i, 3) for i, (k, v) in enumerate(zip("xyz", p, strict=True))
    }


def _grad(node: Any, p: np.ndarray) -> np.ndarray:
    env = {k: Dual.variable(float(v), i, 3) for i, (k, v) in enumerate(zip("xyz", p, strict=True))}
    out = node.evaluate(env)
    return np.asarray(out.grad, dtype=float) if isinstance(out, Dual) else np.zeros(3)


@settings(max_examples=60, deadline=None)
@given(EXPRESSIONS, st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3))
def test_random_expressions_hessian_matches_differences(text: str, point: list[float]) -> None:
    note(f"{text} at {point}")
    node = parse(text)
    p = np.asarray(point)
    with np.errstate(all="ignore"):
        env = {
            k: Dual2.variable(float(v), i, 3) for i, (k, v) in enumerate(zip("xyz", p, strict=True))
        }
        out = node.evaluate(env)
        assume(isinstance(out, Dual2))
        g1 = _grad(node, p)
        assume(np.all(np.isfinite(out.hess)) and np.all(np.isfinite(g1)))
        assume(np.max(np.abs(out.hess), initial=0.0) < 1e6 and abs(float(out.val)) < 1e6)
        np.testing.assert_allclose(out.grad, g1, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.hess, np.swapaxes(out.hess, -1, -2), rtol=1e-10, atol=1e-10)
        h = 1e-5
        steps = [h * e for e in np.eye(3)]
        fd = np.array([(_grad(node, p + d) - _grad(node, p - d)) / (2 * h) for d in steps]).T
        scale = max(1.0, float(np.max(np.abs(out.hess))))
        # min/max/abs kinks: the gradient or Hessian jumps between p - h and p + h; compare
        # only where both are continuous: the slopes of the gradient over the four quarters
        # of the stencil agree (to O(h)) and the Hessian barely changes across it
        t = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
        for d in steps:
            gs = np.array([_grad(node, p + ti * d) for ti in t])
            slopes = np.diff(gs, axis=0) / (h / 2)
            assume(np.all(np.isfinite(slopes)))
            assume(np.max(np.ptp(slopes, axis=0)) < 1e-2 * scale)
        near = [node.evaluate(_vars(p + s * d)).hess for d in steps for s in (-1.0, 1.0)]
        assume(all(np.max(np.abs(hn - out.hess)) < 1e-2 * scale for hn in near))
    np.testing.assert_allclose(out.hess, fd, rtol=2e-4, atol=2e-4 * scale)


def test_model_hessian_of_a_spec() -> None:
    # revenue p·e^{ap+b}: R'' = e^{ap+b} a (2 + a p)
    spec = Spec.from_dict(
        {
            "levers": {"p": {"min": 1.0, "max": 100.0}},
            "growth": {"intercept": 8.0, "coefficients": {"p": -0.05}},
            "quantities": {"revenue": "growth * p"},
            "objective": {"maximize": {"revenue": 1.0}},
        }
    )
    m = BusinessModel(spec)
    env = m.evaluate(m.layout({}), np.array([30.0]), hess=True)
    r = env["revenue"]
    e = math.exp(8.0 - 0.05 * 30.0)
    assert float(r.grad[0]) == pytest.approx(e * (1 - 0.05 * 30.0), rel=1e-12)
    assert float(r.hess[0, 0]) == pytest.approx(e * -0.05 * (2 - 0.05 * 30.0), rel=1e-12)
