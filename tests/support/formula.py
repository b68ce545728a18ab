"""The ONE interpreter of Batch's autoscale formula language, used by the emulator's pools and
by ``tests/infra`` (so the stack's own formula is checked by the same rules it runs under).

It accepts only what Microsoft documents (MicrosoftDocs/azure-docs
``articles/batch/batch-automatic-scaling.md``: "Variables", "Types", "Operations",
"Functions", "Obtain sample data") and refuses anything else:

- statements ``name = expression`` separated by ``;`` (the last ``;`` optional: the SDK's
  recordings send ``$TargetDedicatedNodes=2``), ``//`` comments;
- user variables bare or with ``$``; service-defined variables always with ``$``;
- types double, doubleVec, string, timestamp (members year, month, day, weekday, hour,
  minute, second), timeinterval (``TimeInterval_*`` constants); the operations table of the
  doc, ternary ``?:`` on a double (only the chosen branch is evaluated);
- functions avg, len, lg, ln, log, max, min, norm, percentile, rand, range, std, stop, sum,
  time, val (no ``ceil``/``floor``/``round``: an unknown function is a syntax error);
- sampled metrics (``$PendingTasks`` ...) with GetSample(count | interval[, interval][, pct]),
  GetSamplePercent, GetSamplePeriod, Count, HistoryBeginTime. A sample is recorded every 30 s;
  only samples already *available* are seen (the caller decides the lag). ``GetSample(n)``
  returns the up to n latest available samples (on a fresh pool it returns none, so
  ``max(0, $PendingTasks.GetSample(1))`` is 0: batch-shipyard#138); an interval form fails
  with ``InsufficientSampleData`` when fewer than the asked percent are available.

Errors carry Batch's codes: :class:`FormulaError` ``.code`` is ``AutoScalingFormulaSyntaxError``
(found before evaluating: the emulator refuses such a pool) or
``AutoScalingFormulaEvaluationError`` / ``InsufficientSampleData`` (found while evaluating),
with a ``Line l, Col c: ...`` detail as in Microsoft's examples.
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
    INSUFFICIENT_DATA,
    INTERVALS,
    MAX_FORMULA_LENGTH,
    MESSAGES,
    METRICS,
    SAMPLE_PERIOD_SECONDS,
    SCALARS,
    SYNTAX_ERROR,
    TARGETS,
    TIMESTAMP_MEMBERS,
    FormulaError,
    Interval,
    Metric,
    StopEvaluation,
    Symbol,
    Timestamp,
    as_double,
    binary_operation,
)

__all__ = [
    "EVALUATION_ERROR",
    "INSUFFICIENT_DATA",
    "MESSAGES",
    "METRICS",
    "SAMPLE_PERIOD_SECONDS",
    "SCALARS",
    "SYNTAX_ERROR",
    "TARGETS",
    "Context",
    "FormulaError",
    "Interval",
    "Outcome",
    "Symbol",
    "check",
    "evaluate",
    "run",
]

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
class _Token:
    text: str
    kind: str
    line: int
    col: int

    @property
    def where(self) -> str:
        return f"Line {self.line}, Col {self.col}"


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, line, line_start = 0, 1, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            where = f"Line {line}, Col {position - line_start + 1}"
            raise FormulaError(SYNTAX_ERROR, f"{where}: unexpected {text[position]!r}")
        kind = match.lastgroup or "op"
        if kind != "space":
            tokens.append(_Token(match.group(kind), kind, line, position - line_start + 1))
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


def _undefined(token: _Token) -> Thunk:
    def fail(context: Context) -> Any:
        raise FormulaError(EVALUATION_ERROR, f"{token.where}: Undefined symbol: {token.text}")

    return fail


class _Parser:
    """Recursive descent over the tokens into thunks; static checks raise syntax errors."""

    LEVELS = (("||",), ("&&",), ("<", ">", "<=", ">=", "==", "!="), ("+", "-"), ("*", "/"))

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.assigned: set[str] = set()

    def peek(self) -> str | None:
        return self.tokens[self.at].text if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> _Token:
        if self.at >= len(self.tokens):
            last = self.tokens[-1] if self.tokens else _Token("", "op", 1, 1)
            raise FormulaError(SYNTAX_ERROR, f"{last.where}: the formula ends too early")
        token = self.tokens[self.at]
        if expected is not None and token.text != expected:
            raise FormulaError(
                SYNTAX_ERROR, f"{token.where}: expected {expected!r}, found {token.text!r}"
            )
        self.at += 1
        return token

    def formula(self) -> list[tuple[str, _Token, Thunk]]:
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

    def name(self, token: _Token) -> Thunk:
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


def _combine(token: _Token, left: Thunk, right: Thunk) -> Thunk:
    return lambda context: binary_operation(token.text, left(context), right(context), token.where)


def _method(metric: str, member: _Token, args: list[Thunk]) -> Thunk:
    def call(context: Context) -> Any:
        samples = context.samples.get(metric, ())
        values = [a(context) for a in args]
        return Metric(metric, samples, context.now, context.sample_period).call(
            member.text, values, member.where
        )

    return call


def _member(thunk: Thunk, member: _Token) -> Thunk:
    def read(context: Context) -> float:
        value = thunk(context)
        if not isinstance(value, Timestamp):
            raise FormulaError(EVALUATION_ERROR, f"{member.where}: .{member.text} needs a time")
        if member.text == "weekday":
            return float(value.moment.isoweekday() % 7)  # 1 = Monday ... 0 = Sunday
        return float(getattr(value.moment, member.text))

    return read


# -- the entry points -----------------------------------------------------------------------


@dataclass
class Outcome:
    """One evaluation: the variables' final values and Batch's ``results`` string."""

    variables: dict[str, Any]
    user_order: list[str]

    @property
    def dedicated(self) -> float:
        return float(self.variables["$TargetDedicatedNodes"])

    @property
    def low_priority(self) -> float:
        return float(self.variables["$TargetLowPriorityNodes"])

    @property
    def deallocation(self) -> str:
        return str(self.variables["$NodeDeallocationOption"].name)

    @property
    def results(self) -> str:
        names = [*TARGETS, *self.user_order]
        return ";".join(f"{name}={_show(self.variables[name])}" for name in names)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, Interval):
        return f"{value.seconds:g}s"
    if isinstance(value, Timestamp):
        return value.moment.isoformat()
    return str(value)


def check(formula: str) -> list[tuple[str, _Token, Thunk]]:
    """Parse and statically check ``formula``; raise :class:`FormulaError` (syntax) if Batch
    would refuse it when the pool is created or autoscale is enabled."""
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            SYNTAX_ERROR, f"Line 1, Col 1: longer than {MAX_FORMULA_LENGTH} characters"
        )
    return _Parser(_tokens(formula)).formula()


def run(formula: str, context: Context, *, deallocation: str = "requeue") -> Outcome:
    """Evaluate ``formula`` in ``context``. Raises :class:`FormulaError`."""
    statements = check(formula)
    context.variables = {
        "$TargetDedicatedNodes": float(context.targets[0]),
        "$TargetLowPriorityNodes": float(context.targets[1]),
        "$NodeDeallocationOption": Symbol(deallocation),
    }
    order: list[str] = []
    try:
        for name, token, thunk in statements:
            value = thunk(context)
            if name in TARGETS[:2]:
                as_double(value, token.where)
            if name == "$NodeDeallocationOption" and not isinstance(value, Symbol):
                raise FormulaError(
                    EVALUATION_ERROR, f"{token.where}: one of {', '.join(DEALLOCATION_OPTIONS)}"
                )
            context.variables[name] = value
            if name not in TARGETS and name not in order:
                order.append(name)
    except StopEvaluation:
        pass
    except (ArithmeticError, ValueError) as error:  # e.g. overflow: Batch's evaluation fails
        raise FormulaError(EVALUATION_ERROR, f"Line 1, Col 1: {error}") from None
    return Outcome(context.variables, order)


def evaluate(
    formula: str,
    *,
    pending_tasks: Sequence[float],
    active_tasks: Sequence[float] | None = None,
    pool: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``formula`` with ``$PendingTasks`` samples as given (oldest first, one every 30 s,
    the newest just available now). ``pool`` sets what the pool shows: ``$CurrentDedicatedNodes``
    and the other counts (numbers), ``$TargetDedicatedNodes``/``$TargetLowPriorityNodes`` in
    force, and samples of ``$PreemptedNodeCount`` (a list). Returns every variable."""
    now = 1_000_000.0

    def spaced(values: Sequence[float]) -> list[tuple[float, float]]:
        last = len(values) - 1
        return [(now - SAMPLE_PERIOD_SECONDS * (last - i), float(v)) for i, v in enumerate(values)]

    samples = {
        "$PendingTasks": spaced(pending_tasks),
        "$ActiveTasks": spaced(active_tasks if active_tasks is not None else pending_tasks),
        "$PreemptedNodeCount": spaced([0.0]),
    }
    scalars: dict[str, float] = {"$TaskSlotsPerNode": 1.0}
    targets = [0.0, 0.0]
    for name, value in (pool or {}).items():
        if name in METRICS:
            samples[name] = spaced(list(value))
        elif name in TARGETS[:2]:
            targets[TARGETS.index(name)] = float(value)
        elif name in SCALARS:
            scalars[name] = float(value)
        else:
            raise ValueError(f"{name} is not something a pool shows a formula")
    context = Context(now, samples, scalars, (targets[0], targets[1]))
    return run(formula, context).variables
