"""A small, safe expression language for business-model specs.

Grammar (recursive descent; user text is never handed to Python's ``eval``)::

    comparison := sum [("<=" | ">=" | "<" | ">" | "==") sum]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | power
    power      := atom [("^" | "**") unary]          # right-associative, -x^2 = -(x^2)
    atom       := NUMBER | NAME | NAME "(" [sum ("," sum)*] ")" | "(" sum ")"

Functions: ``exp log sqrt abs min max pow`` and the unit-economics helpers of
:mod:`bizmodel.economics` (``ltv``, ``payback_months``, ``inference_cost_usd``, ...). Errors
point at the offending token by column and name unknown variables together with the valid ones.

Examples
--------
>>> e = parse("users * price_usd - 2 ^ 3")
>>> sorted(e.names())
['price_usd', 'users']
>>> float(e.evaluate({"users": 10.0, "price_usd": 3.0}))
22.0
>>> parse("a <= b * 2").op
'<='
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bizmodel.economics import SPEC_FUNCTIONS
from bizmodel.errors import ExpressionError
from bizmodel.optimize.dual import Dual, dabs, dexp, dlog, dmax, dmin, dpow, dsqrt

#: name -> (function, least arguments, most arguments or None for any number)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "exp": (dexp, 1, 1),
    "log": (dlog, 1, 1),
    "sqrt": (dsqrt, 1, 1),
    "abs": (dabs, 1, 1),
    "min": (dmin, 2, None),
    "max": (dmax, 2, None),
    "pow": (dpow, 2, 2),
}
for _name, _f in SPEC_FUNCTIONS.items():
    _argc = _f.__code__.co_argcount
    _least = _argc - len(_f.__defaults__ or ())
    FUNCTIONS[_name] = (_f, _least, _argc)

COMPARISONS = ("<=", ">=", "==", "<", ">")

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|<=|>=|==|[-+*/^(),<>]))"
)


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op" or "end"
    text: str
    col: int  # 1-based column in the expression


def tokenize(text: str, where: str = "expression") -> list[Token]:
    """Split ``text`` into tokens; an unknown character is an error naming its column.

    Examples
    --------
    >>> [t.text for t in tokenize("2*x1 <= 3e-2")]
    ['2', '*', 'x1', '<=', '3e-2', '']
    """
    tokens: list[Token] = []
    pos = 0
    stripped_end = len(text.rstrip())
    while pos < stripped_end:
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ExpressionError(
                f"{where}: unexpected character {text[col - 1]!r} at column {col} in {text!r}; "
                "valid: numbers, names, + - * / ^ ( ) , and comparisons <= >= =="
            )
        kind = m.lastgroup or "op"
        tokens.append(Token(kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class Node:
    """An expression node; ``evaluate(env)`` works on floats, arrays and duals."""

    text: str

    def names(self) -> set[str]:
        """Variables the expression reads."""
        raise NotImplementedError

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Num(Node):
    value: float
    text: str

    def names(self) -> set[str]:
        return set()

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, eq=False)
class Var(Node):
    name: str
    text: str

    def names(self) -> set[str]:
        return {self.name}

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return env[self.name]


@dataclass(frozen=True, eq=False)
class Neg(Node):
    operand: Node
    text: str

    def names(self) -> set[str]:
        return self.operand.names()

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return -self.operand.evaluate(env)


@dataclass(frozen=True, eq=False)
class BinOp(Node):
    op: str
    left: Node
    right: Node
    text: str

    def names(self) -> set[str]:
        return self.left.names() | self.right.names()

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        a = self.left.evaluate(env)
        b = self.right.evaluate(env)
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        if self.op == "*":
            return a * b
        if self.op == "/":
            if isinstance(a, Dual) or isinstance(b, Dual):
                return a / b
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.divide(a, b)  # x/0 is inf or nan, never a Python exception
        return dpow(a, b)


@dataclass(frozen=True, eq=False)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    text: str

    def names(self) -> set[str]:
        out: set[str] = set()
        for a in self.args:
            out |= a.names()
        return out

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return FUNCTIONS[self.func][0](*(a.evaluate(env) for a in self.args))


@dataclass(frozen=True, eq=False)
class Comparison(Node):
    op: str
    left: Node
    right: Node
    text: str

    def names(self) -> set[str]:
        return self.left.names() | self.right.names()

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The signed slack ``g`` with ``g <= 0`` (or ``== 0``) when the comparison holds."""
        a = self.left.evaluate(env)
        b = self.right.evaluate(env)
        return b - a if self.op in (">=", ">") else a - b


class _Parser:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.tokens = tokenize(text, where)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token, expected: str) -> ExpressionError:
        got = "end of expression" if tok.kind == "end" else repr(tok.text)
        return ExpressionError(
            f"{self.where}: syntax error at column {tok.col} ({got}) in {self.text!r}; "
            f"expected {expected}"
        )

    def span(self, start: Token) -> str:
        end = self.tokens[self.i - 1]
        return self.text[start.col - 1 : end.col - 1 + len(end.text)]

    def comparison(self) -> Node:
        start = self.peek()
        left = self.sum()
        tok = self.peek()
        if tok.kind == "op" and tok.text in COMPARISONS:
            self.take()
            right = self.sum()
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in COMPARISONS:
                raise self.fail(nxt, "one comparison only (write two constraints for a range)")
            return Comparison(tok.text, left, right, self.span(start))
        return left

    def sum(self) -> Node:
        start = self.peek()
        node = self.product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            node = BinOp(op, node, self.product(), self.span(start))
        return node

    def product(self) -> Node:
        start = self.peek()
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.take().text
            node = BinOp(op, node, self.unary(), self.span(start))
        return node

    def unary(self) -> Node:
        start = self.peek()
        if start.kind == "op" and start.text in "+-":
            self.take()
            operand = self.unary()
            return operand if start.text == "+" else Neg(operand, self.span(start))
        return self.power()

    def power(self) -> Node:
        start = self.peek()
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text in ("^", "**"):
            self.take()
            return BinOp("^", base, self.unary(), self.span(start))
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Num(float(tok.text.replace("_", "")), tok.text)
        if tok.kind == "name":
            if self.peek().text == "(" and self.peek().kind == "op":
                return self.call(tok)
            return Var(tok.text, tok.text)
        if tok.kind == "op" and tok.text == "(":
            node = self.sum()
            close = self.take()
            if close.text != ")":
                raise self.fail(close, "')'")
            return node
        raise self.fail(tok, "a number, a name, a function call or '('")

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise ExpressionError(
                f"{self.where}: unknown function {name.text!r} at column {name.col} in "
                f"{self.text!r}; valid: {', '.join(sorted(FUNCTIONS))}"
            )
        self.take()  # "("
        args: list[Node] = []
        if self.peek().text != ")":
            args.append(self.sum())
            while self.peek().text == ",":
                self.take()
                args.append(self.sum())
        close = self.take()
        if close.text != ")":
            raise self.fail(close, "',' or ')'")
        _, least, most = FUNCTIONS[name.text]
        if len(args) < least or (most is not None and len(args) > most):
            want = f"{least}" if least == most else f"{least} to {most or 'any number of'}"
            raise ExpressionError(
                f"{self.where}: {name.text}() at column {name.col} takes {want} arguments, "
                f"got {len(args)} in {self.text!r}"
            )
        return Call(name.text, tuple(args), self.span(name))

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "an expression")
        node = self.comparison()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "an operator or the end of the expression")
        return node


def parse(text: str, where: str = "expression") -> Node:
    """Parse ``text``; ``where`` (e.g. ``"spec.toml: quantities.margin"``) prefixes errors.

    Examples
    --------
    >>> parse("price_usd * (1 - discount").text  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    bizmodel.errors.ExpressionError: expression: syntax error at column 26 (end of expression)...
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: expected an expression string, got {text!r}")
    return _Parser(text, where).parse()


def check_names(node: Node, known: Mapping[str, Any] | set[str], where: str, text: str) -> None:
    """Raise naming the first unknown variable of ``node`` and listing the known ones.

    Examples
    --------
    >>> check_names(parse("users * prize"), {"users", "price"}, "q", "users * prize")
    Traceback (most recent call last):
    bizmodel.errors.ExpressionError: q: unknown variable 'prize' at column 9 ...: price, users
    """
    for name in sorted(node.names()):
        if name not in known:
            col = _find_name(text, name)
            valid = ", ".join(sorted(known)) or "(none)"
            raise ExpressionError(
                f"{where}: unknown variable {name!r} at column {col} in {text!r}; valid: {valid}"
            )


def _find_name(text: str, name: str) -> int:
    m = re.search(rf"(?<![A-Za-z_0-9]){re.escape(name)}(?![A-Za-z_0-9])", text)
    return m.start() + 1 if m else 1
