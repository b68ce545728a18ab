"""Cold start: nodes requested as soon as the pool's formula can see a new job's tasks.

A pool idling at zero nodes evaluates its formula every ``autoScaleEvaluationInterval`` (at
least 5 minutes), and task samples reach the formula about a minute after they are taken
("It takes approximately one minute for samples to propagate through the system",
batch-automatic-scaling.md, where "samples are obtained every 30 seconds"). A job submitted
just after an evaluation would wait up to one interval plus that lag before a node is even
asked for.

Batch's "Pool - Enable Auto Scale" is the lever: given the evaluation interval again, "the
existing autoscale evaluation schedule will be stopped and a new autoscale evaluation schedule
will be started, with its starting time being the time when this request was issued"
(REST docs, azure-batch ``BatchPoolEnableAutoScaleOptions``), at most once per pool every 30
seconds. So, after a job's tasks are added and while the pool has no node and none requested:

1. read the pool's own formula and interval (never a formula of ours: Pulumi sees no drift);
2. probe that formula with "Pool - Evaluate Auto Scale" (applies nothing) until it asks for
   nodes, i.e. until the first sample that counts the tasks is available. That sample is
   taken within one sample period of the tasks being added and seen one lag later, so it
   becomes visible in (lag, lag + period] after them: 60-90 s under the documented model.
   Probes run every second in that window and every 5 s before and after it (a lag other
   than the documented one is still caught, a little later), so nodes are requested at most
   a second after the formula could first see the tasks;
3. then re-arm: Enable Auto Scale with that same formula and interval, which evaluates it
   at once (nodes requested at the time of that request), and stop.

No runner can do better than the sample that counts the tasks: in the worst case (tasks added
just after a sample) that is one period plus the lag, 90 s under the documented model.

Anything that fails (no permission, the 30-second limit, a network error) is one line on
stderr and the job carries on: the pool's normal schedule still brings the nodes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from superbatch.azure.wire import wire_enum

if TYPE_CHECKING:
    from azure.batch import BatchClient

_LOGGER = logging.getLogger(__name__)

SAMPLE_PERIOD_SECONDS = 30.0  # Batch records a task sample every 30 s
SAMPLE_LAG_SECONDS = 60.0  # "approximately one minute" until the formula sees a sample
ENABLE_SPACING_SECONDS = 30.0  # Enable Auto Scale: once per pool per 30 s at most
PROBE_EVERY_SECONDS = 5.0  # outside the window where the documented model shows the tasks
PROBE_CLOSE_SECONDS = 1.0  # inside it: (lag, lag + period] after the tasks were added
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
        for offset in probe_offsets():
            self._sleep_until(report.tasks_added_at + offset)
            if self.stop():
                return
            probe = self.batch.evaluate_pool_auto_scale(self.pool_id, _evaluate_options(formula))
            if probe.error is not None or not formula_asks_for_nodes(probe.results):
                continue
            if nodes_requested(self._pool()):  # the schedule (or another job) was first
                report.nodes_requested_at = self.now()
                report.outcome = f"pool {self.pool_id} asked for nodes on its own schedule"
                return
            self._rearm(report, formula, interval)
            return
        report.outcome = (
            f"the formula of pool {self.pool_id} did not see the tasks within "
            f"{GIVE_UP_AFTER_SECONDS:.0f} s: nodes come at its next scheduled evaluation"
        )
        self.say(report.outcome)

    def _rearm(self, report: ColdStart, formula: str, interval: timedelta | None) -> None:
        from azure.batch.models import BatchPoolEnableAutoScaleOptions

        options = BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=formula, auto_scale_evaluation_interval=interval
        )
        issued = self.now()  # the new schedule starts, and evaluates, at this request's time
        self.batch.enable_pool_auto_scale(self.pool_id, options)
        report.rearmed_at = issued
        settle = self.now() + SETTLE_SECONDS
        while True:
            if nodes_requested(self._pool()):
                report.nodes_requested_at = issued
                waited = issued - report.tasks_added_at
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


def probe_offsets() -> Iterator[float]:
    """Seconds after the tasks were added at which to probe the formula: every second while
    the documented model can first show them (lag, lag + period], every 5 s before and after
    (another lag is still caught), until :data:`GIVE_UP_AFTER_SECONDS`."""
    window = (SAMPLE_LAG_SECONDS, SAMPLE_LAG_SECONDS + SAMPLE_PERIOD_SECONDS)
    offset = 0.0
    while offset < GIVE_UP_AFTER_SECONDS:
        step = PROBE_CLOSE_SECONDS if window[0] <= offset < window[1] else PROBE_EVERY_SECONDS
        offset = min(offset + step, window[0]) if offset < window[0] else offset + step
        yield offset


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


def nodes_note(batch: BatchClient, pool_id: str) -> str | None:
    """One line for ``status`` while tasks wait: when nodes were requested and how long nodes
    of the pool's size take to start (as measured here, else as reported: azure/boots.py), or
    when the formula runs next. None if unreadable."""
    from superbatch.azure import boots
    from superbatch.azure.pool import read_nodes

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
                f"then {boots.usual_start(size)}"
            )
        return f"no nodes requested yet; {boots.usual_start(size)}"
    try:
        nodes = read_nodes(batch, pool_id, fields=f"id,state,{boots.NODE_FIELDS}")
    except Exception:
        return f"{target} node(s) requested ({size})"
    boots.record(pool_id, nodes)
    coming = [n for n in nodes if wire_enum(n.get("state")) in _COMING_STATES]
    ready = len(nodes) - len(coming)
    if coming or target > len(nodes):
        times = [t for t in (_moment(n.get("allocationTime")) for n in coming) if t is not None]
        since = (
            _clock_time(min(times)) if times else _clock_time(pool.allocation_state_transition_time)
        )
        waiting = max(len(coming), target - ready)
        return f"{waiting} node(s) requested at {since}, {ready} ready; {boots.usual_start(size)}"
    return f"{ready} node(s) ready ({size})"


# Node states before a node can run tasks (BatchNodeState).
_COMING_STATES = {"creating", "starting", "waitingforstarttask", "reimaging", "rebooting"}


def _moment(stamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def _clock_time(moment: Any) -> str:
    return moment.strftime("%H:%M:%S UTC") if moment is not None else "an unknown time"
