"""Forward-mode automatic differentiation with vector tangents (exact gradients).

A :class:`Dual` carries a value ``val`` of shape ``(...)`` and its gradient ``grad`` of shape
``(..., n)`` with respect to the ``n`` decision variables. The leading shape ``(...)`` is empty
for one scenario and ``(S,)`` when the growth coefficients are sampled ``S`` times, so one pass
evaluates every scenario. Plain floats and arrays act as constants. One pass costs about
``1 + n`` plain evaluations in arithmetic but a single walk over the expressions, which is what
the optimizer counts as one evaluation.

Examples
--------
>>> import numpy as np
>>> x = Dual.variable(2.0, 0, 2)
>>> y = Dual.variable(3.0, 1, 2)
>>> z = x * y + dexp(x - 2.0)
>>> float(z.val), z.grad.tolist()
(7.0, [4.0, 2.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _val(a: Any) -> Any:
    return a.val if isinstance(a, Dual) else a


def _col(v: Any) -> Any:
    return np.asarray(v, dtype=float)[..., None]


class Dual:
    """A value with its exact gradient; supports ``+ - * / **`` with floats, arrays and duals."""

    __slots__ = ("grad", "val")
    __array_priority__ = 100.0  # make numpy defer to our reflected operators

    def __init__(self, val: Any, grad: Any) -> None:
        self.val = val
        self.grad = grad

    @staticmethod
    def variable(value: float, index: int, n: int) -> Dual:
        """The ``index``-th of ``n`` independent variables, at ``value``."""
        grad = np.zeros(n)
        grad[index] = 1.0
        return Dual(np.float64(value), grad)

    def __repr__(self) -> str:
        return f"Dual({self.val!r}, {self.grad!r})"

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other: Any) -> Dual:
        if isinstance(other, Dual):
            return Dual(self.val + other.val, self.grad + other.grad)
        return Dual(self.val + other, self.grad + np.zeros_like(_col(other)))

    __radd__ = __add__

    def __neg__(self) -> Dual:
        return Dual(-self.val, -self.grad)

    def __pos__(self) -> Dual:
        return self

    def __sub__(self, other: Any) -> Dual:
        return self + (-other)

    def __rsub__(self, other: Any) -> Dual:
        return (-self) + other

    def __mul__(self, other: Any) -> Dual:
        if isinstance(other, Dual):
            return Dual(
                self.val * other.val, self.grad * _col(other.val) + other.grad * _col(self.val)
            )
        return Dual(self.val * other, self.grad * _col(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        if isinstance(other, Dual):
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.divide(self.val, other.val)
                return Dual(q, (self.grad - other.grad * _col(q)) / _col(other.val))
        with np.errstate(divide="ignore", invalid="ignore"):
            return Dual(np.divide(self.val, other), self.grad / _col(other))

    def __rtruediv__(self, other: Any) -> Dual:
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.divide(other, self.val)
            return Dual(q, -self.grad * _col(q / self.val))

    def __pow__(self, other: Any) -> Dual:
        return dpow(self, other)

    def __rpow__(self, other: Any) -> Dual:
        return dpow(other, self)


def _unary(f: Callable[[Any], Any], df: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    def g(a: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if isinstance(a, Dual):
                v = f(a.val)
                return Dual(v, a.grad * _col(df(a.val, v)))
            return f(a)

    return g


dexp = _unary(np.exp, lambda x, v: v)
dlog = _unary(np.log, lambda x, v: 1.0 / x)
dsqrt = _unary(np.sqrt, lambda x, v: 0.5 / v)
dabs = _unary(np.abs, lambda x, v: np.sign(x))


def dpow(a: Any, b: Any) -> Any:
    """``a ** b`` for duals; a constant integer exponent allows negative bases."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not isinstance(b, Dual):
            if not isinstance(a, Dual):
                return np.power(a, b)
            v = np.power(a.val, b)
            return Dual(v, a.grad * _col(b * np.power(a.val, np.asarray(b, dtype=float) - 1.0)))
        # variable exponent: a**b = exp(b log a)
        return dexp(b * dlog(a))


def _pick(values: list[Any], better: Callable[[Any, Any], Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        take = better(_val(v), _val(out))  # True where v wins
        if isinstance(out, Dual) or isinstance(v, Dual):
            vo, vv = _val(out), _val(v)
            go = out.grad if isinstance(out, Dual) else 0.0
            gv = v.grad if isinstance(v, Dual) else 0.0
            n = (out.grad if isinstance(out, Dual) else v.grad).shape[-1]
            go = np.broadcast_to(go, np.broadcast_shapes(np.shape(go), (n,)))
            gv = np.broadcast_to(gv, np.broadcast_shapes(np.shape(gv), (n,)))
            out = Dual(np.where(take, vv, vo), np.where(_col(take), gv, go))
        else:
            out = np.where(take, v, out)
    return out


def dmin(*values: Any) -> Any:
    """Element-wise minimum; the gradient is that of the smallest argument."""
    return _pick(list(values), lambda a, b: np.asarray(a) < np.asarray(b))


def dmax(*values: Any) -> Any:
    """Element-wise maximum; the gradient is that of the largest argument."""
    return _pick(list(values), lambda a, b: np.asarray(a) > np.asarray(b))


def value_of(a: Any) -> Any:
    """The value of a dual, or ``a`` itself."""
    return _val(a)
