"""A tiny interpreter for the subset of the Batch autoscale formula language we emit.

Enough to evaluate ``infra.autoscale`` formulas against a made-up ``$PendingTasks`` history:
``name = expr;`` statements, numbers, ``+ - * /``, comparisons, ``&& ||``, ``?:``, the
functions ``avg max min ceil floor``, ``TimeInterval_Second/Minute`` and the sample methods
``GetSample(count | interval)`` and ``GetSamplePercent(interval)``. Semantics follow the Batch
documentation: values are doubles or vectors of doubles, Batch samples metrics every 30 s,
and asking for more samples than exist is an error (as in Batch, the formula then fails).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

SAMPLE_PERIOD_SECONDS = 30

TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/<>?:(),.=;]))"
)


class FormulaError(Exception):
    """The formula does not parse or cannot be evaluated (Batch would reject the run)."""


@dataclass(frozen=True)
class Interval:
    seconds: float


@dataclass(frozen=True)
class Symbol:
    """A bare keyword such as ``taskcompletion``."""

    name: str


@dataclass(frozen=True)
class Metric:
    """A sampled metric: ``samples[-1]`` is the newest, one every 30 s."""

    samples: Sequence[float]

    def call(self, method: str, args: list[Any]) -> Any:
        (arg,) = args
        if method == "GetSample":
            if isinstance(arg, Interval):
                count = int(arg.seconds // SAMPLE_PERIOD_SECONDS)
                window = list(self.samples[-count:]) if count else []
                if not window:
                    raise FormulaError("no samples in the interval")
                return window
            count = int(arg)
            if count > len(self.samples):
                raise FormulaError(f"asked for {count} samples, only {len(self.samples)} exist")
            return list(self.samples[-count:])
        if method == "GetSamplePercent":
            expected = arg.seconds / SAMPLE_PERIOD_SECONDS
            return 100.0 * min(1.0, len(self.samples) / expected)
        raise FormulaError(f"unknown method {method}")


def _flatten(args: list[Any]) -> list[float]:
    values: list[float] = []
    for arg in args:
        values.extend(arg if isinstance(arg, list) else [arg])
    if not values:
        raise FormulaError("function of no values")
    return values


FUNCTIONS: dict[str, Callable[[list[Any]], float]] = {
    "avg": lambda args: sum(_flatten(args)) / len(_flatten(args)),
    "max": lambda args: max(_flatten(args)),
    "min": lambda args: min(_flatten(args)),
    "ceil": lambda args: float(math.ceil(_flatten(args)[0])),
    "floor": lambda args: float(math.floor(_flatten(args)[0])),
}
CONSTANTS = {"TimeInterval_Second": Interval(1), "TimeInterval_Minute": Interval(60)}


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            raise FormulaError(f"cannot read {text[position : position + 20]!r}")
        tokens.append(match.group(match.lastgroup or "op"))
        position = match.end()
    return tokens


Thunk = Callable[[], Any]


class _Compiler:
    """Parses tokens into thunks, so that ``?:`` evaluates only the branch it picks."""

    LEVELS = (("||",), ("&&",), ("<", ">", "<=", ">=", "==", "!="), ("+", "-"), ("*", "/"))

    def __init__(self, tokens: list[str], variables: dict[str, Any]) -> None:
        self.tokens = tokens
        self.at = 0
        self.variables = variables

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise FormulaError(f"expected {expected!r}, found {token!r}")
        self.at += 1
        return token

    def statements(self) -> list[tuple[str, Thunk]]:
        result = []
        while self.peek() is not None:
            target = self.take()
            self.take("=")
            result.append((target, self.expression()))
            self.take(";")
        return result

    def expression(self) -> Thunk:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        self.take("?")
        if_true = self.expression()
        self.take(":")
        if_false = self.expression()
        return lambda: if_true() if condition() else if_false()

    def binary(self, level: int) -> Thunk:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self.LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            left = _combine(op, left, right)
        return left

    def unary(self) -> Thunk:
        if self.peek() == "-":
            self.take()
            operand = self.unary()
            return lambda: -operand()
        return self.primary()

    def primary(self) -> Thunk:
        token = self.take()
        if token == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if token[0].isdigit():
            number = float(token)
            return lambda: number
        if token.startswith("$") and self.peek() == ".":
            self.take(".")
            method = self.take()
            args = self.arguments()
            return lambda: self.variables[token].call(method, [arg() for arg in args])
        if self.peek() == "(":
            if token not in FUNCTIONS:
                raise FormulaError(f"unknown function {token}")
            function, args = FUNCTIONS[token], self.arguments()
            return lambda: function([arg() for arg in args])
        return lambda: self.lookup(token)

    def lookup(self, name: str) -> Any:
        if name in self.variables:
            return self.variables[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name.startswith("$"):
            raise FormulaError(f"unknown variable {name}")
        return Symbol(name)

    def arguments(self) -> list[Thunk]:
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.expression())
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        return args


def _combine(op: str, left: Thunk, right: Thunk) -> Thunk:
    return lambda: _apply(op, left(), right())


def _apply(op: str, left: Any, right: Any) -> Any:
    if op == "*" and isinstance(left, Interval):
        return Interval(left.seconds * right)
    if op == "*" and isinstance(right, Interval):
        return Interval(right.seconds * left)
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "<": lambda a, b: float(a < b),
        ">": lambda a, b: float(a > b),
        "<=": lambda a, b: float(a <= b),
        ">=": lambda a, b: float(a >= b),
        "==": lambda a, b: float(a == b),
        "!=": lambda a, b: float(a != b),
        "&&": lambda a, b: float(bool(a) and bool(b)),
        "||": lambda a, b: float(bool(a) or bool(b)),
    }
    return operations[op](left, right)


# The pool as a formula sees it, when a test does not say: no nodes, no targets, nothing
# preempted. Counts are plain numbers, $PreemptedNodeCount a sampled metric (Microsoft's
# preempted-nodes sample calls its GetSample).
POOL_AT_REST: dict[str, Any] = {
    "$CurrentDedicatedNodes": 0.0,
    "$CurrentLowPriorityNodes": 0.0,
    "$TargetDedicatedNodes": 0.0,
    "$TargetLowPriorityNodes": 0.0,
    "$PreemptedNodeCount": (0.0,),
}


def evaluate(
    formula: str, *, pending_tasks: Sequence[float], pool: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``formula`` with ``$PendingTasks`` sampled as given (oldest first).

    ``pool`` overrides :data:`POOL_AT_REST` (node counts, targets in force, samples of
    ``$PreemptedNodeCount``). Returns every variable the formula assigned, including
    ``$TargetDedicatedNodes``.
    """
    variables: dict[str, Any] = {"$PendingTasks": Metric(pending_tasks)}
    for name, value in {**POOL_AT_REST, **(pool or {})}.items():
        variables[name] = Metric(value) if isinstance(value, tuple | list) else float(value)
    for target, value in _Compiler(_tokens(formula), variables).statements():
        variables[target] = value()
    return variables
