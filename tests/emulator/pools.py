"""Pools and compute nodes as Batch has them, driven by the emulator's clock.

A pool is fixed-size (``targetDedicatedNodes``/``targetLowPriorityNodes``) or autoscaled: its
formula runs through the one interpreter (:mod:`tests.support.formula`) at the schedule's start
and every ``autoScaleEvaluationInterval`` after, seeing task samples recorded every
``sample_period_seconds`` (30: "samples are obtained every 30 seconds") that become available
``sample_lag_seconds`` later (60: "It takes approximately one minute for samples to propagate
through the system", batch-automatic-scaling.md). Both are settable, so a runner can be tested
under a model other than the documented one. A resize adds nodes in
``starting`` that become ``idle`` after ``node_start_seconds``, within the injected core quotas
(else ``resizeErrors``). Tasks run only on idle or running nodes' free slots.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulator import pool_wire
from tests.emulator.errors import BatchServiceError
from tests.emulator.pool_state import NODE_FAILED, PoolInjections, ResizeErrors, round_target
from tests.support import formula as formulas

if TYPE_CHECKING:
    from tests.emulator.clock import Clock
    from tests.emulator.store import Account

# Cores per VM size, for the core quotas. Sizes not listed count 2 cores.
VM_CORES = {
    "standard_d2s_v3": 2,
    "standard_d2s_v5": 2,
    "standard_d4s_v5": 4,
    "standard_d8s_v5": 8,
    "standard_d2_v2": 2,
}
MIN_INTERVAL = 300.0  # "The minimum and maximum value are 5 minutes and 168 hours"
MAX_INTERVAL = 168 * 3600.0
DEFAULT_INTERVAL = 900.0  # "The default value is 15 minutes"
_etags = itertools.count(1)


def pool_etag() -> str:
    return f'"0x8DE{next(_etags) + 0x800000:013X}"'


@dataclass
class PoolSpec:
    """How a test wants a pool. Defaults: the fixed one-node pool today's tests run on."""

    id: str = "superbatch-pool"
    vm_size: str = "standard_d2s_v3"
    slots: int = 4  # taskSlotsPerNode
    dedicated: int = 1  # fixed size (ignored with a formula)
    low_priority: int = 0
    formula: str | None = None  # autoscale when set
    interval_seconds: float = DEFAULT_INTERVAL
    node_start_seconds: float = 0.0
    sample_lag_seconds: float = 60.0
    sample_period_seconds: float = formulas.SAMPLE_PERIOD_SECONDS  # Batch's: 30
    rounding: str = "down"  # how fractional targets become nodes: "down" | "up" | "nearest"
    container: bool = True  # containerConfiguration: every task needs containerSettings
    identity_resource_ids: list[str] = field(default_factory=list)
    seed: int = 0
    inject: PoolInjections = field(default_factory=PoolInjections)  # failures from the start


@dataclass
class ComputeNode:
    id: str
    dedicated: bool
    state: str  # starting | idle | unusable | preempted | leavingpool (running is derived)
    allocated: float
    ready_at: float
    since: float
    errors: list[dict[str, Any]] = field(default_factory=list)
    tasks_run: int = 0
    tasks_succeeded: int = 0

    @property
    def schedulable(self) -> bool:
        return self.state == "idle"


class Pool:
    """One pool's state; every method runs under the account's lock."""

    def __init__(self, spec: PoolSpec, clock: Clock, base_url: str, account: Account) -> None:
        self.spec = spec
        self.id = spec.id
        self.clock = clock
        self.account = account
        self.url = f"{base_url}/pools/{spec.id}"
        self.identity_resource_ids = list(spec.identity_resource_ids)
        self.inject = spec.inject
        self.random = random.Random(spec.seed)
        self.nodes: list[ComputeNode] = []
        self._node_numbers = itertools.count()
        now = clock.now()
        self.created = now
        self.etag = pool_etag()
        self.last_modified = now
        self.allocation_state = "steady"
        self.allocation_since = now
        self.target = (0, 0)
        self.resize_errors = ResizeErrors()
        self.deallocation = "requeue"
        self.auto_scale = False
        self.formula: str | None = None
        self.interval = spec.interval_seconds
        self.next_evaluation = math.inf
        self.last_enable: float | None = None
        self.auto_scale_run: dict[str, Any] | None = None
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self.next_sample = now
        if spec.formula is not None:
            formulas_check(spec.formula)
            self.auto_scale, self.formula = True, spec.formula
            self.next_evaluation = now  # evaluated when the pool is created
        else:
            self.resize(spec.dedicated, spec.low_priority, "requeue", ready=True)

    @property
    def slots(self) -> int:
        return self.spec.slots

    def touch(self) -> None:
        self.etag = pool_etag()
        self.last_modified = self.clock.now()

    # -- autoscale ------------------------------------------------------------------------------

    def enable_auto_scale(self, formula: str | None, interval: float | None) -> None:
        now = self.clock.now()
        if self.allocation_state != "steady" and not self.auto_scale:
            raise BatchServiceError(
                409,
                "PoolBeingResized",
                "The specified pool is being resized.",
            )
        if self.last_enable is not None and now - self.last_enable < 30:
            raise BatchServiceError(
                409,  # status unverified; the code is Batch's (BatchErrorCodeStrings)
                "TooManyEnableAutoScaleRequests",
                "Enable AutoScale requests for the same pool must be separated by at least "
                "30 seconds.",
            )
        if formula is None and not self.auto_scale:
            raise BatchServiceError(
                400,
                "MissingRequiredProperty",
                "A required property was not specified in the request body.",
                PropertyName="autoScaleFormula",
            )
        if formula is not None:
            formulas_check(formula)
        self.last_enable = now
        restart = not self.auto_scale or interval is not None
        self.auto_scale = True
        self.formula = formula if formula is not None else self.formula
        if interval is not None:
            self.interval = interval
        if restart:  # a new schedule starts at the time of this request
            self.next_evaluation = now
        else:  # a new formula alone is evaluated now; the schedule keeps its times
            self.evaluate_now(now)
        self.touch()

    def disable_auto_scale(self) -> None:
        self.auto_scale = False
        self.formula = None
        self.next_evaluation = math.inf
        self.touch()

    def context(self, now: float) -> formulas.Context:
        lag = self.spec.sample_lag_seconds
        available = {
            name: [(t, v) for t, v in values if t + lag <= now]
            for name, values in self.samples.items()
        }
        dedicated = sum(1 for n in self.nodes if n.dedicated)
        low = sum(1 for n in self.nodes if not n.dedicated)
        scalars = {
            "$CurrentDedicatedNodes": float(dedicated),
            "$CurrentLowPriorityNodes": float(low),
            "$UsableNodeCount": float(sum(1 for n in self.nodes if n.state == "idle")),
            "$TaskSlotsPerNode": float(self.spec.slots),
        }
        return formulas.Context(
            now,
            available,
            scalars,
            self.target,
            self.random,
            sample_period=self.spec.sample_period_seconds,
        )

    def evaluate(self, formula: str, now: float) -> dict[str, Any]:
        """An ``AutoScaleRun`` for ``formula`` at ``now``, applying nothing."""
        run: dict[str, Any] = {"timestamp": self.clock.stamp(now)}
        try:
            outcome = formulas.run(formula, self.context(now), deallocation=self.deallocation)
        except formulas.FormulaError as error:
            run["results"] = (
                f"$TargetDedicatedNodes={self.target[0]};"
                f"$TargetLowPriorityNodes={self.target[1]};"
                f"$NodeDeallocationOption={self.deallocation}"
            )
            code = error.code if error.code == formulas.INSUFFICIENT_DATA else None
            run["error"] = {**error.wire(), "code": code or formulas.EVALUATION_ERROR}
            return run
        run["results"] = outcome.results
        run["_outcome"] = outcome
        return run

    def evaluate_now(self, now: float) -> None:
        assert self.formula is not None
        run = self.evaluate(self.formula, now)
        outcome = run.pop("_outcome", None)
        self.auto_scale_run = run
        if outcome is not None:
            targets = (
                round_target(outcome.dedicated, self.spec.rounding),
                round_target(outcome.low_priority, self.spec.rounding),
            )
            self.resize(*targets, outcome.deallocation)

    # -- samples and the clock ------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock.now()
        while self.next_sample <= now:
            self._record_sample(self.next_sample)
            self.next_sample += self.spec.sample_period_seconds
        while self.auto_scale and self.next_evaluation <= now:
            self.evaluate_now(self.next_evaluation)
            self.next_evaluation += self.interval
        for node in self.nodes:
            if node.state == "starting" and node.ready_at <= now:
                self._node_ready(node, now)
        self._settle(now)

    def _record_sample(self, at: float) -> None:
        active = running = succeeded = failed = 0
        for job in self.account.jobs.values():
            if job.wire["poolInfo"]["poolId"].lower() != self.id.lower():
                continue
            for task in job.tasks.values():
                if task.state == "active":
                    active += job.state == "active" and self.account.dependencies_met(job, task)
                elif task.state in ("running", "preparing"):
                    running += 1
                elif task.wire["executionInfo"].get("result") == "success":
                    succeeded += 1
                else:
                    failed += 1
        values = {
            "$ActiveTasks": active,
            "$RunningTasks": running,
            "$PendingTasks": active + running,
            "$SucceededTasks": succeeded,
            "$FailedTasks": failed,
            "$SampleNodeCount": len(self.nodes),
            "$PreemptedNodeCount": sum(1 for n in self.nodes if n.state == "preempted"),
        }
        for name in formulas.METRICS:
            history = self.samples.setdefault(name, [])
            history.append((at, float(values.get(name, 0))))
            del history[:-2000]  # about 16 hours of samples

    def _node_ready(self, node: ComputeNode, now: float) -> None:
        failure = self.inject.node_failure
        node.state = "unusable" if failure else "idle"
        node.since = now
        if failure:
            node.errors = [dict(failure)]

    def _settle(self, now: float) -> None:
        for node in [n for n in self.nodes if n.state == "leavingpool"]:
            if not self.account.tasks_on_node(node.id):
                self.nodes.remove(node)
        if self.allocation_state == "resizing" and not any(
            n.state in ("starting", "leavingpool") for n in self.nodes
        ):
            self.allocation_state, self.allocation_since = "steady", now
            self.touch()

    # -- resizing -------------------------------------------------------------------------------

    def resize(self, dedicated: int, low: int, deallocation: str, *, ready: bool = False) -> None:
        now = self.clock.now()
        self.deallocation = deallocation
        changed = (dedicated, low) != self.target
        self.target = (dedicated, low)
        if changed:
            self.resize_errors.clear()
        grew = self._grow(True, dedicated, now, ready) | self._grow(False, low, now, ready)
        shrank = self._shrink(True, dedicated, deallocation) | self._shrink(
            False, low, deallocation
        )
        if grew or shrank:
            self.allocation_state, self.allocation_since = "resizing", now
            self.touch()
        self._settle(now)

    def _counted(self, dedicated: bool) -> list[ComputeNode]:
        """Nodes that count toward the target (preempted Spot nodes are being replaced)."""
        return [
            n
            for n in self.nodes
            if n.dedicated == dedicated and n.state not in ("preempted", "leavingpool")
        ]

    def _grow(self, dedicated: bool, target: int, now: float, ready: bool) -> bool:
        missing = target - len(self._counted(dedicated))
        if missing <= 0:
            return False
        allowed, error = self.inject.allowed(self, dedicated, missing)
        if error is not None:
            self.resize_errors.add(error)
        for _ in range(allowed):
            number = next(self._node_numbers)
            node_id = (
                "tvmps_emulator_node_0"
                if number == 0
                else f"tvmps_{self.id.lower()}_{number:05d}_{'d' if dedicated else 'p'}"
            )
            start = 0.0 if ready else self.spec.node_start_seconds
            node = ComputeNode(node_id, dedicated, "starting", now, now + start, now)
            self.nodes.append(node)
            if start <= 0:
                self._node_ready(node, now)
        return allowed > 0

    def _shrink(self, dedicated: bool, target: int, deallocation: str) -> bool:
        counted = self._counted(dedicated)
        extra = len(counted) - target
        if extra <= 0:
            return False
        busy = {n.id for n in counted if self.account.tasks_on_node(n.id)}
        order = sorted(counted, key=lambda n: (n.id in busy, n.state == "idle"))
        for node in order[:extra]:
            if node.id in busy and deallocation in ("taskcompletion", "retaineddata"):
                node.state, node.since = "leavingpool", self.clock.now()
                continue
            if node.id in busy:
                self.account.requeue_node_tasks(node.id)
                node.state = "leavingpool"
                continue
            self.nodes.remove(node)
        return True

    # -- injected events ------------------------------------------------------------------------

    def preempt(self, node_id: str | None = None) -> list[str]:
        """Preempt Spot nodes (one by id, or all): their running tasks go back to active."""
        hit = [
            n
            for n in self.nodes
            if not n.dedicated
            and n.state not in ("preempted", "leavingpool")
            and (node_id is None or n.id == node_id)
        ]
        now = self.clock.now()
        for node in hit:
            self.account.requeue_node_tasks(node.id)
            node.state, node.since = "preempted", now
        if hit:  # Batch tries to get back to the target with new Spot nodes
            self.resize(*self.target, self.deallocation)
        return [n.id for n in hit]

    def fail_node(self, node_id: str, error: dict[str, Any] | None = None) -> None:
        """A node goes ``unusable`` (e.g. its disk filled): its running tasks go back to
        active and run on another node; it stays in the pool and takes no new task."""
        node = next(n for n in self.nodes if n.id == node_id)
        self.account.requeue_node_tasks(node.id)
        node.state, node.since = "unusable", self.clock.now()
        node.errors = [dict(error or NODE_FAILED)]
        self.touch()

    # -- wire -----------------------------------------------------------------------------------

    def node_state(self, node: ComputeNode) -> str:
        return pool_wire.node_state(self, node)

    def node_wire(self, node: ComputeNode) -> dict[str, Any]:
        return pool_wire.node_wire(self, node)

    def wire(self) -> dict[str, Any]:
        return pool_wire.pool_wire(self)


def formulas_check(formula: str) -> None:
    """Refuse a formula Batch would refuse when the pool is created or autoscale enabled."""
    try:
        formulas.check(formula)
    except formulas.FormulaError as error:
        raise BatchServiceError(
            400,
            formulas.SYNTAX_ERROR,  # the code Batch lists for it; status unverified
            f"{error.message}: {error.detail}",
        ) from None
