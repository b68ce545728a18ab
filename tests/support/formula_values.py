"""Values, functions and operations of Batch's autoscale formula language (the types, the
functions and the operations tables of MicrosoftDocs/azure-docs
``articles/batch/batch-automatic-scaling.md``), and its errors with Batch's codes.
The parser and the entry points are in :mod:`tests.support.formula`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


class StopEvaluation(Exception):
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
    period: float = SAMPLE_PERIOD_SECONDS  # seconds between two samples

    def _window(self, start: Any, end: Any, where: str) -> tuple[list[float], float]:
        begin = self._moment(start, where)
        finish = self._moment(end, where) if end is not None else self.now
        if finish < begin:
            begin, finish = finish, begin
        values = [v for t, v in self.samples if begin < t <= finish]
        expected = max(1.0, math.floor((finish - begin) / self.period))
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
            return Interval(self.period)
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
            raise FormulaError(EVALUATION_ERROR, f"{where}: expected doubles, got {kind_of(arg)}")
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

        return [one(x) for x in value] if isinstance(value, list) else one(as_double(value, where))

    return apply


def _percentile(args: list[Any], where: str, _: Any) -> float:
    vector, p = args
    values = sorted(_nonempty(_vector([vector], where), where))
    p = as_double(p, where)
    if not 0 <= p <= 100:
        raise FormulaError(EVALUATION_ERROR, f"{where}: percentile {p:g} is not in 0..100")
    rank = max(1, math.ceil(p / 100 * len(values)))  # nearest rank (the doc names no method)
    return values[rank - 1]


def _val(args: list[Any], where: str, _: Any) -> float:
    vector, index = args
    values = _vector([vector], where)
    i = int(as_double(index, where))
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
    raise StopEvaluation


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


def kind_of(value: Any) -> str:
    return {
        float: "double",
        list: "doubleVec",
        str: "string",
        Interval: "timeinterval",
        Timestamp: "timestamp",
        Symbol: "keyword",
    }.get(type(value), type(value).__name__)


def as_double(value: Any, where: str) -> float:
    if not isinstance(value, float):
        raise FormulaError(EVALUATION_ERROR, f"{where}: expected a double, got {kind_of(value)}")
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


def binary_operation(op: str, a: Any, b: Any, where: str) -> Any:
    ka, kb = kind_of(a), kind_of(b)
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
