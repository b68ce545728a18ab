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
  GetSamplePercent, GetSamplePeriod, Count, HistoryBeginTime. A sample is recorded every
  ``Context.sample_period`` (Batch's 30 s); only samples already *available* are seen (the
  caller decides the lag). ``GetSample(n)`` returns the up to n latest available samples
  (on a fresh pool it returns none, so ``max(0, $PendingTasks.GetSample(1))`` is 0:
  batch-shipyard#138); an interval form fails with ``InsufficientSampleData`` when fewer
  than the asked percent are available.

Errors carry Batch's codes: :class:`FormulaError` ``.code`` is ``AutoScalingFormulaSyntaxError``
(found before evaluating: the emulator refuses such a pool) or
``AutoScalingFormulaEvaluationError`` / ``InsufficientSampleData`` (found while evaluating),
with a ``Line l, Col c: ...`` detail as in Microsoft's examples.

Reading the text (tokens, the parser, :class:`Context`) is :mod:`tests.support.formula_parser`;
values, metrics and functions are :mod:`tests.support.formula_values`; this module is the
entry points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.formula_parser import Context, Parser, Thunk, Token, tokens
from tests.support.formula_values import (
    DEALLOCATION_OPTIONS,
    EVALUATION_ERROR,
    INSUFFICIENT_DATA,
    MAX_FORMULA_LENGTH,
    MESSAGES,
    METRICS,
    SAMPLE_PERIOD_SECONDS,
    SCALARS,
    SYNTAX_ERROR,
    TARGETS,
    FormulaError,
    Interval,
    StopEvaluation,
    Symbol,
    Timestamp,
    as_double,
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


def check(formula: str) -> list[tuple[str, Token, Thunk]]:
    """Parse and statically check ``formula``; raise :class:`FormulaError` (syntax) if Batch
    would refuse it when the pool is created or autoscale is enabled."""
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            SYNTAX_ERROR, f"Line 1, Col 1: longer than {MAX_FORMULA_LENGTH} characters"
        )
    return Parser(tokens(formula)).formula()


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
