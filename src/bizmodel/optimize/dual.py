"""Forward-mode automatic differentiation with vector tangents (exact gradients).

A :class:`Dual` carries a value ``val`` of shape ``(...)`` and its gradient ``grad`` of shape
``(..., n)`` with respect to the ``n`` decision variables. The leading shape ``(...)`` is empty
for one scenario and ``(S,)`` when the growth coefficients are sampled ``S`` times, so one pass
evaluates every scenario. Plain floats and arrays act as constants. One pass costs about
``1 + n`` plain evaluations in arithmetic but a single walk over the expressions, which is what
the optimizer counts as one evaluation.

:class:`Dual2` (second-order forward mode, a "hyper-dual" with vector tangents) also carries the
exact Hessian ``hess`` of shape ``(..., n, n)`` through the same single walk. It costs about
``1 + n + n(n+1)/2`` plain evaluations in arithmetic. The rules, for ``u = f(a)`` and products
and quotients of ``a`` and ``b`` (``⊗`` the outer product of gradients)::

    ∇f(a)   = f'(a) ∇a                 H f(a)  = f'(a) H_a + f''(a) ∇a ⊗ ∇a
    ∇(ab)   = b ∇a + a ∇b              H(ab)   = b H_a + a H_b + ∇a ⊗ ∇b + ∇b ⊗ ∇a
    q = a/b: ∇q = (∇a - q ∇b) / b       H q     = (H_a - q H_b - ∇q ⊗ ∇b - ∇b ⊗ ∇q) / b

The first-order :class:`Dual` is untouched by this: a Hessian is only computed when the
variables are created with :meth:`Dual2.variable`.

Examples
--------
>>> import numpy as np
>>> x = Dual.variable(2.0, 0, 2)
>>> y = Dual.variable(3.0, 1, 2)
>>> z = x * y + dexp(x - 2.0)
>>> float(z.val), z.grad.tolist()
(7.0, [4.0, 2.0])
>>> x2, y2 = Dual2.variable(2.0, 0, 2), Dual2.variable(3.0, 1, 2)
>>> (x2 * y2 + dexp(x2 - 2.0)).hess.tolist()   # [[e^0, 1], [1, 0]]
[[1.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _val(a: Any) -> Any:
    return a.val if isinstance(a, Dual) else a


def _col(v: Any) -> Any:
    return np.asarray(v, dtype=float)[..., None]


def _mat(v: Any) -> Any:
    return np.asarray(v, dtype=float)[..., None, None]


def _outer(a: Any, b: Any) -> Any:
    """``a ⊗ b + b ⊗ a`` over the last axis (broadcast over the leading ones)."""
    ab = a[..., :, None] * b[..., None, :]
    return ab + np.swapaxes(ab, -1, -2)


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


class Dual2(Dual):
    """A value with its exact gradient and Hessian (second-order forward mode).

    ``hess`` has shape ``(..., n, n)`` and is symmetric. Operations follow the product,
    quotient and chain rules of the module docstring, so one walk over an expression gives
    value, gradient and Hessian at once. Mixing with first-order :class:`Dual` is not
    supported (all variables of one evaluation are of one kind).

    Examples
    --------
    >>> x = Dual2.variable(3.0, 0, 1)
    >>> y = x * x * x                    # y = x^3: y' = 3x^2 = 27, y'' = 6x = 18
    >>> float(y.val), y.grad.tolist(), y.hess.tolist()
    (27.0, [27.0], [[18.0]])
    >>> q = 1.0 / x                      # 1/x: -1/x^2, 2/x^3
    >>> round(float(q.grad[0]), 6), round(float(q.hess[0, 0]), 6)
    (-0.111111, 0.074074)
    """

    __slots__ = ("hess",)

    def __init__(self, val: Any, grad: Any, hess: Any) -> None:
        self.val = val
        self.grad = grad
        self.hess = hess

    @staticmethod
    def variable(value: float, index: int, n: int) -> Dual2:
        """The ``index``-th of ``n`` independent variables, at ``value`` (zero Hessian)."""
        grad = np.zeros(n)
        grad[index] = 1.0
        return Dual2(np.float64(value), grad, np.zeros((n, n)))

    def __repr__(self) -> str:
        return f"Dual2({self.val!r}, {self.grad!r}, {self.hess!r})"

    def chain(self, v: Any, d1: Any, d2: Any) -> Dual2:
        """``f(self)`` given ``v = f(a)``, ``d1 = f'(a)`` and ``d2 = f''(a)``.

        .. math:: \\nabla f = f' \\nabla a, \\qquad
                  H_f = f' H_a + f'' \\, \\nabla a \\, \\nabla a^\\top
        """
        g = self.grad
        return Dual2(
            v,
            g * _col(d1),
            self.hess * _mat(d1) + _mat(d2) * (g[..., :, None] * g[..., None, :]),
        )

    def __add__(self, other: Any) -> Dual2:
        if isinstance(other, Dual2):
            return Dual2(self.val + other.val, self.grad + other.grad, self.hess + other.hess)
        return Dual2(
            self.val + other,
            self.grad + np.zeros_like(_col(other)),
            self.hess + np.zeros_like(_mat(other)),
        )

    __radd__ = __add__

    def __neg__(self) -> Dual2:
        return Dual2(-self.val, -self.grad, -self.hess)

    def __sub__(self, other: Any) -> Dual2:
        return self + (-other)

    def __rsub__(self, other: Any) -> Dual2:
        return (-self) + other

    def __mul__(self, other: Any) -> Dual2:
        if isinstance(other, Dual2):
            a, b = _col(self.val), _col(other.val)
            return Dual2(
                self.val * other.val,
                self.grad * b + other.grad * a,
                self.hess * _mat(other.val)
                + other.hess * _mat(self.val)
                + _outer(self.grad, other.grad),
            )
        return Dual2(self.val * other, self.grad * _col(other), self.hess * _mat(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual2:
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(other, Dual2):
                q = np.divide(self.val, other.val)
                gq = (self.grad - other.grad * _col(q)) / _col(other.val)
                hq = (self.hess - other.hess * _mat(q) - _outer(gq, other.grad)) / _mat(other.val)
                return Dual2(q, gq, hq)
            return Dual2(
                np.divide(self.val, other), self.grad / _col(other), self.hess / _mat(other)
            )

    def __rtruediv__(self, other: Any) -> Dual2:
        # c / b: ∇q = -q ∇b / b,  H q = (-q H_b - ∇q ⊗ ∇b - ∇b ⊗ ∇q) / b
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.divide(other, self.val)
            gq = -self.grad * _col(q / self.val)
            hq = (-self.hess * _mat(q) - _outer(gq, self.grad)) / _mat(self.val)
            return Dual2(q, gq, hq)


def _unary(
    f: Callable[[Any], Any],
    df: Callable[[Any, Any], Any],
    d2f: Callable[[Any, Any], Any],
) -> Callable[[Any], Any]:
    def g(a: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if isinstance(a, Dual2):
                v = f(a.val)
                return a.chain(v, df(a.val, v), d2f(a.val, v))
            if isinstance(a, Dual):
                v = f(a.val)
                return Dual(v, a.grad * _col(df(a.val, v)))
            return f(a)

    return g


# (f, f', f'') with f' and f'' given the argument x and the value v = f(x)
dexp = _unary(np.exp, lambda x, v: v, lambda x, v: v)
dlog = _unary(np.log, lambda x, v: 1.0 / x, lambda x, v: -1.0 / (x * x))
dsqrt = _unary(np.sqrt, lambda x, v: 0.5 / v, lambda x, v: -0.25 / (v * x))
dabs = _unary(np.abs, lambda x, v: np.sign(x), lambda x, v: np.zeros_like(x))


def dpow(a: Any, b: Any) -> Any:
    """``a ** b`` for duals; a constant integer exponent allows negative bases."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not isinstance(b, Dual):
            if not isinstance(a, Dual):
                return np.power(a, b)
            v = np.power(a.val, b)
            bf = np.asarray(b, dtype=float)
            d1 = b * np.power(a.val, bf - 1.0)
            if isinstance(a, Dual2):
                return a.chain(v, d1, b * (bf - 1.0) * np.power(a.val, bf - 2.0))
            return Dual(v, a.grad * _col(d1))
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
            if isinstance(out, Dual2) or isinstance(v, Dual2):
                ho = out.hess if isinstance(out, Dual2) else np.zeros((n, n))
                hv = v.hess if isinstance(v, Dual2) else np.zeros((n, n))
                out = Dual2(
                    np.where(take, vv, vo),
                    np.where(_col(take), gv, go),
                    np.where(_mat(take), hv, ho),
                )
            else:
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
