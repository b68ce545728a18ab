"""Cold start: nodes requested as soon as the pool's formula can see a new job's tasks.

A pool idling at zero nodes evaluates its formula every ``autoScaleEvaluationInterval`` (at
least 5 minutes), and task samples reach the formula about a minute after they are taken
("It takes approximately one minute for samples to propagate through the system",
batch-automatic-scaling.md; Batch records one every 30 s). A job submitted just after an
evaluation would wait up to one interval plus that lag before a node is even asked for.

Batch's "Pool - Enable Auto Scale" is the lever: given the evaluation interval again, "the
existing autoscale evaluation schedule will be stopped and a new autoscale evaluation schedule
will be started, with its starting time being the time when this request was issued"
(REST docs, azure-batch ``BatchPoolEnableAutoScaleOptions``), at most once per pool every 30
seconds. So, after a job's tasks are added and while the pool has no node and none requested:

1. read the pool's own formula and interval (never a formula of ours: Pulumi sees no drift);
2. from one sample lag after the tasks were added, probe the formula every few seconds with
   "Pool - Evaluate Auto Scale" (applies nothing) until it asks for nodes, i.e. the first
   sample that counts the tasks is available;
3. then re-arm: Enable Auto Scale with that same formula and interval, which evaluates it
   at once, and stop as soon as the pool has nodes requested.

Anything that fails (no permission, the 30-second limit, a network error) is one line on
stderr and the job carries on: the pool's normal schedule still brings the nodes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from superbatch.azure.wire import wire_enum

if TYPE_CHECKING:
    from azure.batch import BatchClient

_LOGGER = logging.getLogger(__name__)

SAMPLE_PERIOD_SECONDS = 30.0  # Batch records a task sample every 30 s
SAMPLE_LAG_SECONDS = 60.0  # "approximately one minute" until the formula sees a sample
ENABLE_SPACING_SECONDS = 30.0  # Enable Auto Scale: once per pool per 30 s at most
PROBE_EVERY_SECONDS = 5.0
# Past this (a lag three times the documented one) the probe stops: the schedule takes over.
GIVE_UP_AFTER_SECONDS = SAMPLE_PERIOD_SECONDS + 3 * SAMPLE_LAG_SECONDS
SETTLE_SECONDS = 10.0  # after re-arming, how long to look for the targets to change
POOL_FIELDS = [
    "id",
    "enableAutoScale",
    "autoScaleFormula",
    "autoScaleEvaluationInterval",
    "targetDedicatedNodes",
    "targetLowPriorityNodes",
    "currentDedicatedNodes",
    "currentLowPriorityNodes",
    "allocationState",
    "allocationStateTransitionTime",
    "vmSize",
    "autoScaleRun",
]
_TARGET = re.compile(r"\$Target(?:Dedicated|LowPriority)Nodes=([0-9.]+)")


@dataclass
class ColdStart:
    """What the re-arm did for one job, in the runner's clock (seconds since the epoch)."""

    pool_id: str
    tasks_added_at: float
    nodes_requested_at: float | None = None
    rearmed_at: float | None = None
    outcome: str = ""  # one line: what happened and why


def nodes_requested(pool: Any) -> bool:
    """The pool has nodes, or targets above zero (a resize is under way)."""
    counts = (
        pool.target_dedicated_nodes,
        pool.target_low_priority_nodes,
        pool.current_dedicated_nodes,
        pool.current_low_priority_nodes,
    )
    return any((count or 0) > 0 for count in counts)


def formula_asks_for_nodes(results: str | None) -> bool:
    """Whether an evaluation's ``results`` (``$TargetDedicatedNodes=2;...``) asks for nodes."""
    return any(float(value) > 0 for value in _TARGET.findall(results or ""))


class Rearm:
    """One job's re-arm of its pool's autoscale; ``run`` never raises."""

    def __init__(
        self,
        batch: BatchClient,
        pool_id: str,
        *,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.batch = batch
        self.pool_id = pool_id
        self.now = now
        self.sleep = sleep
        self.say = say or (lambda line: _LOGGER.warning("%s", line))
        self.stop = stop

    def run(self, tasks_added_at: float) -> ColdStart:
        report = ColdStart(self.pool_id, tasks_added_at)
        try:
            self._run(report)
        except Exception as exc:  # never fails the job: the schedule still brings nodes
            report.outcome = (
                f"could not re-arm the autoscale of pool {self.pool_id} ({_reason(exc)}): "
                "nodes come at the pool's next scheduled evaluation"
            )
            self.say(report.outcome)
        return report

    def _pool(self) -> Any:
        return self.batch.get_pool(self.pool_id, select=POOL_FIELDS)

    def _run(self, report: ColdStart) -> None:
        pool = self._pool()
        if not pool.enable_auto_scale or not pool.auto_scale_formula:
            report.outcome = f"pool {self.pool_id} is not autoscaled: nothing to re-arm"
            return
        if nodes_requested(pool):
            report.nodes_requested_at = report.tasks_added_at
            report.outcome = f"pool {self.pool_id} already has nodes or has asked for them"
            return
        formula, interval = pool.auto_scale_formula, pool.auto_scale_evaluation_interval
        # The first sample that counts the tasks is taken within 30 s and seen a lag later.
        self._sleep_until(report.tasks_added_at + SAMPLE_LAG_SECONDS)
        deadline = report.tasks_added_at + GIVE_UP_AFTER_SECONDS
        while not self.stop():
            pool = self._pool()
            if nodes_requested(pool):  # the schedule (or another job) was first
                report.nodes_requested_at = self.now()
                report.outcome = f"pool {self.pool_id} asked for nodes on its own schedule"
                return
            probe = self.batch.evaluate_pool_auto_scale(self.pool_id, _evaluate_options(formula))
            if probe.error is None and formula_asks_for_nodes(probe.results):
                self._rearm(report, formula, interval)
                return
            if self.now() >= deadline:
                report.outcome = (
                    f"the formula of pool {self.pool_id} did not see the tasks within "
                    f"{GIVE_UP_AFTER_SECONDS:.0f} s: nodes come at its next scheduled evaluation"
                )
                self.say(report.outcome)
                return
            self.sleep(PROBE_EVERY_SECONDS)

    def _rearm(self, report: ColdStart, formula: str, interval: timedelta | None) -> None:
        from azure.batch.models import BatchPoolEnableAutoScaleOptions

        options = BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=formula, auto_scale_evaluation_interval=interval
        )
        self.batch.enable_pool_auto_scale(self.pool_id, options)
        report.rearmed_at = self.now()
        settle = report.rearmed_at + SETTLE_SECONDS
        while True:
            if nodes_requested(self._pool()):
                report.nodes_requested_at = self.now()
                waited = report.nodes_requested_at - report.tasks_added_at
                report.outcome = (
                    f"re-armed the autoscale of pool {self.pool_id}: nodes requested "
                    f"{waited:.0f} s after the tasks were added"
                )
                return
            if self.now() >= settle or self.stop():
                report.outcome = f"re-armed the autoscale of pool {self.pool_id}"
                return
            self.sleep(1.0)

    def _sleep_until(self, moment: float) -> None:
        while not self.stop() and self.now() < moment:
            self.sleep(min(PROBE_EVERY_SECONDS, moment - self.now()))


def _evaluate_options(formula: str) -> Any:
    from azure.batch.models import BatchPoolEvaluateAutoScaleOptions

    return BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if status == 403 or (code or "").startswith("Authorization"):
        return (
            f"{status or 403} {code or 'AuthorizationFailure'}: your identity needs the role "
            "'SuperBatch pool autoscale re-arm' on the pool, which `pulumi up` grants"
        )
    if code == "TooManyEnableAutoScaleRequests":
        return f"{status} {code}: Batch allows one re-arm per pool every 30 s"
    if status is not None:
        return f"{status} {code or 'error'}"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


@dataclass(frozen=True)
class Clock:
    """The runner's time for the re-arm: wall time, or a test's or benchmark's clock."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


WALL_CLOCK = Clock()


class Watch:
    """A :class:`Rearm` on a daemon thread, so ``wait`` polls while it waits for samples.

    The thread ends on its own (nodes requested, refused, or given up), or with the process:
    the pool's normal schedule covers whatever it did not do.
    """

    def __init__(self, batch: BatchClient, pool_id: str, *, clock: Clock = WALL_CLOCK) -> None:
        import threading

        self._stopped = threading.Event()
        self._rearm = Rearm(
            batch, pool_id, now=clock.now, sleep=clock.sleep, stop=self._stopped.is_set
        )
        self._added_at = clock.now()
        self._report: ColdStart | None = None
        self._thread = threading.Thread(target=self._run, name="superbatch-rearm", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._report = self._rearm.run(self._added_at)

    def result(self, timeout: float | None = None) -> ColdStart | None:
        """The report once the re-arm has finished (None while it still runs)."""
        self._thread.join(timeout)
        return self._report

    def stop(self) -> None:
        self._stopped.set()


# "3-8 minutes before a node exists is commonly reported" (GitHub Azure/Batch#145).
TYPICAL_NODE_START = "3-8 minutes"


def nodes_note(batch: BatchClient, pool_id: str) -> str | None:
    """One line for ``status`` while tasks wait: when nodes were requested and how long nodes
    of the pool's size usually take, or when the formula runs next. None if unreadable."""
    try:
        pool = batch.get_pool(pool_id, select=POOL_FIELDS)
    except Exception:  # status never fails for this line
        return None
    size = pool.vm_size or "its VM size"
    target = (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0)
    if target == 0 and pool.enable_auto_scale:
        run = pool.auto_scale_run
        interval = pool.auto_scale_evaluation_interval
        last = getattr(run, "timestamp", None)
        if last is not None and interval is not None:
            return (
                f"no nodes requested yet: the pool's formula runs next at "
                f"{_clock_time(last + interval)} (every {interval.total_seconds() / 60:g} min); "
                f"then {size} nodes usually take {TYPICAL_NODE_START} to start"
            )
        return f"no nodes requested yet; {size} nodes usually take {TYPICAL_NODE_START} to start"
    try:
        nodes = list(batch.list_nodes(pool_id, select=["id", "state", "allocationTime"]))
    except Exception:
        return f"{target} node(s) requested ({size})"
    coming = [n for n in nodes if wire_enum(n.state) in _COMING_STATES]
    ready = len(nodes) - len(coming)
    if coming or target > len(nodes):
        times = [n.allocation_time for n in coming if n.allocation_time is not None]
        since = (
            _clock_time(min(times)) if times else _clock_time(pool.allocation_state_transition_time)
        )
        waiting = max(len(coming), target - ready)
        return (
            f"{waiting} node(s) requested at {since}, {ready} ready; {size} nodes usually take "
            f"{TYPICAL_NODE_START} to start"
        )
    return f"{ready} node(s) ready ({size})"


# Node states before a node can run tasks (BatchNodeState).
_COMING_STATES = {"creating", "starting", "waitingforstarttask", "reimaging", "rebooting"}


def _clock_time(moment: Any) -> str:
    return moment.strftime("%H:%M:%S UTC") if moment is not None else "an unknown time"
