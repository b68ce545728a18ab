"""Parsing Batch's autoscale formula language into thunks (the half of
:mod:`tests.support.formula` that reads the text): tokens with their line and column, the
:class:`Context` one evaluation sees, and a recursive-descent :class:`Parser` whose static
checks raise ``AutoScalingFormulaSyntaxError`` before anything is evaluated.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.formula_values import (
    DEALLOCATION_OPTIONS,
    EVALUATION_ERROR,
    FUNCTIONS,
    INTERVALS,
    METRICS,
    SAMPLE_PERIOD_SECONDS,
    SCALARS,
    SYNTAX_ERROR,
    TARGETS,
    TIMESTAMP_MEMBERS,
    FormulaError,
    Interval,
    Metric,
    Symbol,
    Timestamp,
    as_double,
    binary_operation,
)

_SYSTEM = {name.lower(): name for name in (*TARGETS, *METRICS, *SCALARS)}
# The old name still works: "$TargetDedicated = 1;" evaluates to "$TargetDedicatedNodes=1"
# (.NET SDK AutoScale recording, api-version 2025-06-01, in tests/conformance/recordings).
_SYSTEM["$targetdedicated"] = "$TargetDedicatedNodes"

TOKEN = re.compile(
    r"(?P<space>\s+|//[^\n]*)|(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"
    r"|(?P<string>\"[^\"]*\")|(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/<>?:(),.=;!])"
)


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    text: str
    kind: str
    line: int
    col: int

    @property
    def where(self) -> str:
        return f"Line {self.line}, Col {self.col}"


def tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position, line, line_start = 0, 1, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            where = f"Line {line}, Col {position - line_start + 1}"
            raise FormulaError(SYNTAX_ERROR, f"{where}: unexpected {text[position]!r}")
        kind = match.lastgroup or "op"
        if kind != "space":
            tokens.append(Token(match.group(kind), kind, line, position - line_start + 1))
        for offset, char in enumerate(match.group(0)):
            if char == "\n":
                line, line_start = line + 1, position + offset + 1
        position = match.end()
    return tokens


Thunk = Callable[["Context"], Any]


@dataclass
class Context:
    """What one evaluation sees: the time, available samples and the pool's current values."""

    now: float
    samples: Mapping[str, Sequence[tuple[float, float]]]
    scalars: Mapping[str, float]
    targets: tuple[float, float] = (0.0, 0.0)
    random: random.Random = field(default_factory=random.Random)
    variables: dict[str, Any] = field(default_factory=dict)
    sample_period: float = SAMPLE_PERIOD_SECONDS  # seconds between two recorded samples


def _undefined(token: Token) -> Thunk:
    def fail(context: Context) -> Any:
        raise FormulaError(EVALUATION_ERROR, f"{token.where}: Undefined symbol: {token.text}")

    return fail


class Parser:
    """Recursive descent over the tokens into thunks; static checks raise syntax errors."""

    LEVELS = (("||",), ("&&",), ("<", ">", "<=", ">=", "==", "!="), ("+", "-"), ("*", "/"))

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.assigned: set[str] = set()

    def peek(self) -> str | None:
        return self.tokens[self.at].text if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> Token:
        if self.at >= len(self.tokens):
            last = self.tokens[-1] if self.tokens else Token("", "op", 1, 1)
            raise FormulaError(SYNTAX_ERROR, f"{last.where}: the formula ends too early")
        token = self.tokens[self.at]
        if expected is not None and token.text != expected:
            raise FormulaError(
                SYNTAX_ERROR, f"{token.where}: expected {expected!r}, found {token.text!r}"
            )
        self.at += 1
        return token

    def formula(self) -> list[tuple[str, Token, Thunk]]:
        statements = []
        if not self.tokens:
            raise FormulaError(SYNTAX_ERROR, "Line 1, Col 1: the formula is empty")
        while self.peek() is not None:
            if self.peek() == ";":
                self.take()
                continue
            target = self.take()
            if target.kind != "name":
                raise FormulaError(SYNTAX_ERROR, f"{target.where}: expected a variable name")
            name = _SYSTEM.get(target.text.lower(), target.text)
            if name in METRICS or name in SCALARS:
                raise FormulaError(SYNTAX_ERROR, f"{target.where}: {name} is read-only")
            if name in INTERVALS or name in FUNCTIONS or name in DEALLOCATION_OPTIONS:
                raise FormulaError(SYNTAX_ERROR, f"{target.where}: {name} is reserved")
            if self.peek() in (None, ";") and name not in self.assigned:
                # a name alone: Batch fails the evaluation, "Line 1, Col 1: Undefined symbol:
                # $something_useless" (JS SDK autoscale recording, in tests/conformance)
                statements.append((name, target, _undefined(target)))
                continue
            self.take("=")
            statements.append((name, target, self.expression()))
            self.assigned.add(name)
            if self.peek() is not None:
                self.take(";")
        return statements

    def expression(self) -> Thunk:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        where = self.take("?").where
        if_true = self.expression()
        self.take(":")
        if_false = self.expression()

        def choose(context: Context) -> Any:
            chosen = if_true if as_double(condition(context), where) else if_false
            return chosen(context)

        return choose

    def binary(self, level: int) -> Thunk:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self.LEVELS[level]:
            token = self.take()
            right = self.binary(level + 1)
            left = _combine(token, left, right)
        return left

    def unary(self) -> Thunk:
        if self.peek() in ("-", "!"):
            token = self.take()
            operand = self.unary()

            def apply(context: Context) -> Any:
                value = operand(context)
                if token.text == "-" and isinstance(value, Interval):
                    return Interval(-value.seconds)
                number = as_double(value, token.where)
                return -number if token.text == "-" else float(not number)

            return apply
        return self.postfix()

    def postfix(self) -> Thunk:
        start = self.tokens[self.at] if self.at < len(self.tokens) else None
        thunk = self.primary()
        while self.peek() == ".":
            self.take(".")
            member = self.take()
            if self.peek() == "(":
                if start is None or _SYSTEM.get(start.text.lower()) not in METRICS:
                    raise FormulaError(
                        SYNTAX_ERROR, f"{member.where}: {member.text}() needs a sampled metric"
                    )
                metric = _SYSTEM[start.text.lower()]
                args = self.arguments()
                thunk = _method(metric, member, args)
            elif member.text in TIMESTAMP_MEMBERS:
                thunk = _member(thunk, member)
            else:
                raise FormulaError(SYNTAX_ERROR, f"{member.where}: unknown member {member.text}")
        return thunk

    def primary(self) -> Thunk:
        token = self.take()
        if token.text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if token.kind == "number":
            number = float(token.text)
            return lambda context: number
        if token.kind == "string":
            text = token.text[1:-1]
            return lambda context: text
        if token.kind != "name":
            raise FormulaError(SYNTAX_ERROR, f"{token.where}: unexpected {token.text!r}")
        if self.peek() == "(":
            if token.text not in FUNCTIONS:
                raise FormulaError(SYNTAX_ERROR, f"{token.where}: unknown function {token.text}")
            (low, high), function = FUNCTIONS[token.text]
            args = self.arguments()
            if len(args) < low or (high is not None and len(args) > high):
                raise FormulaError(
                    SYNTAX_ERROR, f"{token.where}: wrong number of arguments to {token.text}"
                )
            return lambda context: function([a(context) for a in args], token.where, context)
        return self.name(token)

    def name(self, token: Token) -> Thunk:
        system = _SYSTEM.get(token.text.lower())
        if system in METRICS:
            if self.peek() != ".":
                raise FormulaError(
                    SYNTAX_ERROR, f"{token.where}: {system} is sampled: use {system}.GetSample()"
                )
            return lambda context: None  # the method call reads the metric itself
        if system in SCALARS:
            return lambda context: float(context.scalars.get(system, 0.0))
        if system in TARGETS:
            return lambda context: context.variables[system]
        if token.text in INTERVALS:
            seconds = INTERVALS[token.text]
            return lambda context: Interval(seconds)
        if token.text in DEALLOCATION_OPTIONS:
            symbol = Symbol(token.text)
            return lambda context: symbol
        if token.text not in self.assigned:
            raise FormulaError(SYNTAX_ERROR, f"{token.where}: undefined variable {token.text}")
        name = token.text
        return lambda context: context.variables[name]

    def arguments(self) -> list[Thunk]:
        self.take("(")
        args: list[Thunk] = []
        while self.peek() != ")":
            args.append(self.expression())
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        return args


def _combine(token: Token, left: Thunk, right: Thunk) -> Thunk:
    return lambda context: binary_operation(token.text, left(context), right(context), token.where)


def _method(metric: str, member: Token, args: list[Thunk]) -> Thunk:
    def call(context: Context) -> Any:
        samples = context.samples.get(metric, ())
        values = [a(context) for a in args]
        return Metric(metric, samples, context.now, context.sample_period).call(
            member.text, values, member.where
        )

    return call


def _member(thunk: Thunk, member: Token) -> Thunk:
    def read(context: Context) -> float:
        value = thunk(context)
        if not isinstance(value, Timestamp):
            raise FormulaError(EVALUATION_ERROR, f"{member.where}: .{member.text} needs a time")
        if member.text == "weekday":
            return float(value.moment.isoweekday() % 7)  # 1 = Monday ... 0 = Sunday
        return float(getattr(value.moment, member.text))

    return read
