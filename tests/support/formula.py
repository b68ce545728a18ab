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

import datetime
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SAMPLE_PERIOD_SECONDS = 30.0
MAX_FORMULA_LENGTH = 8192  # BatchErrorCodeStrings.AutoScaleFormulaTooLong

SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
EVALUATION_ERROR = "AutoScalingFormulaEvaluationError"
INSUFFICIENT_DATA = "InsufficientSampleData"
MESSAGES = {
    SYNTAX_ERROR: "An automatic scaling formula has a syntax error",
    EVALUATION_ERROR: "Autoscale evaluation failed",
    INSUFFICIENT_DATA: "Autoscale evaluation failed due to insufficient sample data",
}

TARGETS = ("$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption")
METRICS = (
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    "$ActiveTasks",
    "$RunningTasks",
    "$PendingTasks",
    "$SucceededTasks",
    "$FailedTasks",
    "$PreemptedNodeCount",  # sampled: the doc's preempted-nodes example calls GetSample
)
SCALARS = (
    "$CurrentDedicatedNodes",
    "$CurrentLowPriorityNodes",
    "$UsableNodeCount",
    "$TaskSlotsPerNode",
)
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
_SYSTEM = {name.lower(): name for name in (*TARGETS, *METRICS, *SCALARS)}
# The old name still works: "$TargetDedicated = 1;" evaluates to "$TargetDedicatedNodes=1"
# (.NET SDK AutoScale recording, api-version 2025-06-01, in tests/conformance/recordings).
_SYSTEM["$targetdedicated"] = "$TargetDedicatedNodes"

TOKEN = re.compile(
    r"(?P<space>\s+|//[^\n]*)|(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"
    r"|(?P<string>\"[^\"]*\")|(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/<>?:(),.=;!])"
)


class FormulaError(Exception):
    """Batch would refuse the formula (syntax) or fail its evaluation (``autoScaleRun.error``)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    def wire(self) -> dict[str, Any]:
        """The ``autoScaleRun.error`` object (REST "Evaluate an automatic scaling formula")."""
        return {
            "code": self.code,
            "message": self.message,
            "values": [{"name": "Message", "value": self.detail}],
        }


class _Stop(Exception):
    """``stop()`` was called: the rest of the formula is not evaluated."""


@dataclass(frozen=True)
class Interval:
    seconds: float


@dataclass(frozen=True)
class Symbol:
    """A ``$NodeDeallocationOption`` keyword such as ``taskcompletion``."""

    name: str


@dataclass(frozen=True)
class Timestamp:
    moment: datetime.datetime


INTERVALS = {
    "TimeInterval_Zero": 0.0,
    "TimeInterval_100ns": 1e-7,
    "TimeInterval_Microsecond": 1e-6,
    "TimeInterval_Millisecond": 1e-3,
    "TimeInterval_Second": 1.0,
    "TimeInterval_Minute": 60.0,
    "TimeInterval_Hour": 3600.0,
    "TimeInterval_Day": 86400.0,
    "TimeInterval_Week": 7 * 86400.0,
    "TimeInterval_Year": 365 * 86400.0,
}


@dataclass
class Metric:
    """A sampled metric: ``(recorded_at, value)`` pairs already available, oldest first."""

    name: str
    samples: Sequence[tuple[float, float]]
    now: float

    def _window(self, start: Any, end: Any, where: str) -> tuple[list[float], float]:
        begin = self._moment(start, where)
        finish = self._moment(end, where) if end is not None else self.now
        if finish < begin:
            begin, finish = finish, begin
        values = [v for t, v in self.samples if begin < t <= finish]
        expected = max(1.0, math.floor((finish - begin) / SAMPLE_PERIOD_SECONDS))
        return values, min(100.0, 100.0 * len(values) / expected)

    def _moment(self, value: Any, where: str) -> float:
        if isinstance(value, Interval):  # a look-back from now
            return self.now - value.seconds
        if isinstance(value, Timestamp):
            return value.moment.timestamp()
        raise FormulaError(EVALUATION_ERROR, f"{where}: expected a timeinterval or timestamp")

    def call(self, method: str, args: list[Any], where: str) -> Any:
        if method == "GetSample":
            if len(args) == 1 and isinstance(args[0], float):
                count = int(args[0])
                return [v for _, v in self.samples[-count:]] if count > 0 else []
            if not 1 <= len(args) <= 3:
                raise FormulaError(EVALUATION_ERROR, f"{where}: GetSample takes 1 to 3 arguments")
            percent = 0.0
            rest = list(args)
            if len(rest) >= 2 and isinstance(rest[-1], float):
                percent = rest.pop()
            values, available = self._window(rest[0], rest[1] if len(rest) > 1 else None, where)
            if available < percent:
                raise FormulaError(
                    INSUFFICIENT_DATA,
                    f"{where}: Insufficient data from data set: {self.name} wanted "
                    f"{percent:g}%, received {available:.0f}%",
                )
            return values
        if method == "GetSamplePercent":
            if not 1 <= len(args) <= 2:
                raise FormulaError(EVALUATION_ERROR, f"{where}: GetSamplePercent takes 1 or 2")
            return self._window(args[0], args[1] if len(args) > 1 else None, where)[1]
        if method == "GetSamplePeriod" and not args:
            return Interval(SAMPLE_PERIOD_SECONDS)
        if method == "Count" and not args:
            return float(len(self.samples))
        if method == "HistoryBeginTime" and not args:
            if not self.samples:
                raise FormulaError(INSUFFICIENT_DATA, f"{where}: {self.name} has no samples")
            return Timestamp(datetime.datetime.fromtimestamp(self.samples[0][0], datetime.UTC))
        raise FormulaError(EVALUATION_ERROR, f"{where}: {self.name}.{method} cannot take {args}")


# -- functions ------------------------------------------------------------------------------


def _vector(args: list[Any], where: str) -> list[float]:
    """A doubleVecList flattened to one doubleVec (``avg(v, 7)`` is ``avg(1, 2, 3, 7)``)."""
    values: list[float] = []
    for arg in args:
        if isinstance(arg, float):
            values.append(arg)
        elif isinstance(arg, list):
            values.extend(arg)
        else:
            raise FormulaError(EVALUATION_ERROR, f"{where}: expected doubles, got {_kind(arg)}")
    return values


def _nonempty(values: list[float], where: str) -> list[float]:
    if not values:
        raise FormulaError(EVALUATION_ERROR, f"{where}: the vector is empty")
    return values


def _std(values: list[float], where: str) -> float:
    if len(values) < 2:
        raise FormulaError(EVALUATION_ERROR, f"{where}: std needs at least two values")
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _log(base: float | None) -> Callable[[list[Any], str, Any], Any]:
    def apply(args: list[Any], where: str, _: Any) -> Any:
        (value,) = args

        def one(x: float) -> float:
            if x <= 0:
                raise FormulaError(EVALUATION_ERROR, f"{where}: logarithm of {x:g}")
            return math.log(x) if base is None else math.log(x, base)

        return [one(x) for x in value] if isinstance(value, list) else one(_double(value, where))

    return apply


def _percentile(args: list[Any], where: str, _: Any) -> float:
    vector, p = args
    values = sorted(_nonempty(_vector([vector], where), where))
    p = _double(p, where)
    if not 0 <= p <= 100:
        raise FormulaError(EVALUATION_ERROR, f"{where}: percentile {p:g} is not in 0..100")
    rank = max(1, math.ceil(p / 100 * len(values)))  # nearest rank (the doc names no method)
    return values[rank - 1]


def _val(args: list[Any], where: str, _: Any) -> float:
    vector, index = args
    values = _vector([vector], where)
    i = int(_double(index, where))
    if not 0 <= i < len(values):
        raise FormulaError(EVALUATION_ERROR, f"{where}: index {i} outside 0..{len(values) - 1}")
    return values[i]


def _time(args: list[Any], where: str, context: Any) -> Timestamp:
    if not args:
        return Timestamp(datetime.datetime.fromtimestamp(context.now, datetime.UTC))
    (text,) = args
    if not isinstance(text, str):
        raise FormulaError(EVALUATION_ERROR, f"{where}: time() takes a string")
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        import email.utils

        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise FormulaError(EVALUATION_ERROR, f"{where}: cannot read time {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return Timestamp(moment)


def _stop(args: list[Any], where: str, _: Any) -> Any:
    raise _Stop


def _over_vector(reduce: Callable[[list[float], str], float]) -> Callable[..., float]:
    return lambda args, where, _: reduce(_vector(args, where), where)


FUNCTIONS: dict[str, tuple[tuple[int, int | None], Callable[[list[Any], str, Any], Any]]] = {
    "avg": ((1, None), _over_vector(lambda v, w: sum(_nonempty(v, w)) / len(v))),
    "len": ((1, None), _over_vector(lambda v, w: float(len(v)))),
    "lg": ((1, 1), _log(2)),
    "ln": ((1, 1), _log(None)),
    "log": ((1, 1), _log(10)),
    "max": ((1, None), _over_vector(lambda v, w: max(_nonempty(v, w)))),
    "min": ((1, None), _over_vector(lambda v, w: min(_nonempty(v, w)))),
    "norm": ((1, None), _over_vector(lambda v, w: math.sqrt(sum(x * x for x in v)))),
    "percentile": ((2, 2), _percentile),
    "rand": ((0, 0), lambda args, where, context: context.random.random()),
    "range": ((1, None), _over_vector(lambda v, w: max(_nonempty(v, w)) - min(v))),
    "std": ((1, None), _over_vector(_std)),
    "stop": ((0, 0), _stop),
    "sum": ((1, None), _over_vector(lambda v, w: float(sum(v)))),
    "time": ((0, 1), _time),
    "val": ((2, 2), _val),
}
TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")


# -- operations -----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {
        float: "double",
        list: "doubleVec",
        str: "string",
        Interval: "timeinterval",
        Timestamp: "timestamp",
        Symbol: "keyword",
    }.get(type(value), type(value).__name__)


def _double(value: Any, where: str) -> float:
    if not isinstance(value, float):
        raise FormulaError(EVALUATION_ERROR, f"{where}: expected a double, got {_kind(value)}")
    return value


def _arith(op: str, a: float, b: float, where: str) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise FormulaError(EVALUATION_ERROR, f"{where}: division by zero")
    return a / b


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "!=": lambda a, b: a != b,
}


def _binary(op: str, a: Any, b: Any, where: str) -> Any:
    ka, kb = _kind(a), _kind(b)
    if op in ("&&", "||") and ka == kb == "double":
        return float(bool(a) and bool(b)) if op == "&&" else float(bool(a) or bool(b))
    if op in _COMPARE and ka == kb and ka in ("double", "string", "timestamp", "timeinterval"):
        if ka == "timestamp":
            a, b = a.moment, b.moment
        elif ka == "timeinterval":
            a, b = a.seconds, b.seconds
        return float(_COMPARE[op](a, b))
    if op in "+-*/" and len(op) == 1:
        if ka == kb == "double":
            return _arith(op, a, b, where)
        if ka == "doubleVec" and kb == "double":
            return [_arith(op, x, b, where) for x in a]
        if ka == kb == "doubleVec":
            if len(a) != len(b):
                raise FormulaError(EVALUATION_ERROR, f"{where}: vectors of different lengths")
            return [_arith(op, x, y, where) for x, y in zip(a, b, strict=True)]
        if op == "*" and ka == "double" and kb == "timeinterval":
            return Interval(a * b.seconds)
        if op in "*/" and ka == "timeinterval" and kb == "double":
            return Interval(_arith(op, a.seconds, b, where))
        if op in "+-" and ka == kb == "timeinterval":
            return Interval(_arith(op, a.seconds, b.seconds, where))
        if op == "+" and {ka, kb} == {"timeinterval", "timestamp"}:
            stamp, span = (a, b) if ka == "timestamp" else (b, a)
            return Timestamp(stamp.moment + datetime.timedelta(seconds=span.seconds))
        if op == "-" and ka == kb == "timestamp":
            return Interval((a.moment - b.moment).total_seconds())
    raise FormulaError(EVALUATION_ERROR, f"{where}: {ka} {op} {kb} is not a supported operation")


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
            chosen = if_true if _double(condition(context), where) else if_false
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
                number = _double(value, token.where)
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
    return lambda context: _binary(token.text, left(context), right(context), token.where)


def _method(metric: str, member: _Token, args: list[Thunk]) -> Thunk:
    def call(context: Context) -> Any:
        samples = context.samples.get(metric, ())
        values = [a(context) for a in args]
        return Metric(metric, samples, context.now).call(member.text, values, member.where)

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
                _double(value, token.where)
            if name == "$NodeDeallocationOption" and not isinstance(value, Symbol):
                raise FormulaError(
                    EVALUATION_ERROR, f"{token.where}: one of {', '.join(DEALLOCATION_OPTIONS)}"
                )
            context.variables[name] = value
            if name not in TARGETS and name not in order:
                order.append(name)
    except _Stop:
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
