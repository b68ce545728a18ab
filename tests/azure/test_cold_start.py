"""Cold start on an autoscaled pool idling at zero (issue 15), on the emulator's clock.

The pool runs the stack's own formula every 5 minutes with samples a minute late. After a
submission the runner re-arms the pool's autoscale once the formula can see the tasks; when
that is refused (no permission, Batch's 30-second limit) the job still runs, on the pool's
normal schedule.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from infra.autoscale import autoscale_formula

from superbatch.azure import rearm
from superbatch.model import ResolvedJob, TaskSpec
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import TEST_IMAGE

FORMULA = autoscale_formula(max_nodes=2, task_slots_per_node=1, spot=False)
INTERVAL = 300.0


@pytest.fixture
def idle_pool(pool_stack: Any) -> EmulatedStack:
    """A container pool at zero nodes with the stack's formula, evaluated every 5 minutes."""
    from tests.emulator.pools import PoolSpec

    stack: EmulatedStack = pool_stack(
        PoolSpec(formula=FORMULA, interval_seconds=INTERVAL, container=True)
    )
    return stack


def job(job_id: str) -> ResolvedJob:
    tasks = tuple(TaskSpec(str(i), f"echo {i}") for i in range(2))
    return ResolvedJob(job_id=job_id, name="cold", image=TEST_IMAGE, tasks=tasks, outputs=())


def emulated_clock(stack: EmulatedStack, readings: list[float] | None = None) -> rearm.Clock:
    """The emulator's clock for the re-arm; ``readings`` gets every time the re-arm read."""

    def now() -> float:
        moment = stack.emulator.clock.now()
        if readings is not None:
            readings.append(moment)
        return moment

    return rearm.Clock(now=now, sleep=stack.emulator.clock.advance)


def probes_due(stack: EmulatedStack, report: rearm.ColdStart) -> list[float]:
    """When each probe the re-arm made was due, on its schedule (emulated time): one per
    offset of ``probe_offsets()``, counted by the Batch requests they made. Host time that
    passes while a probe is under way (the emulated clock runs on it) is not in these."""
    probes = stack.emulator.requests["evaluate_pool_auto_scale"]
    offsets = list(itertools.islice(rearm.probe_offsets(), probes))
    assert len(offsets) == probes > 0
    return [report.tasks_added_at + offset for offset in offsets]


def targets(stack: EmulatedStack) -> tuple[int, int]:
    wire = stack.emulator.pool_wire()
    return wire["targetDedicatedNodes"], wire["targetLowPriorityNodes"]


def test_nodes_are_requested_as_soon_as_the_formula_sees_the_tasks(
    idle_pool: EmulatedStack,
) -> None:
    backend = idle_pool.backend(cold_start=emulated_clock(idle_pool))
    backend.submit(job("cold-1"))
    assert backend.cold_start is not None
    report = backend.cold_start.result(timeout=120)
    assert report is not None and report.nodes_requested_at is not None, report
    waited = probes_due(idle_pool, report)[-1] - report.tasks_added_at  # the probe that saw
    # One sample period plus the minute of lag, plus the probe's step: never the 5 minutes.
    assert waited <= rearm.SAMPLE_PERIOD_SECONDS + rearm.SAMPLE_LAG_SECONDS + 5, report
    assert "re-armed" in report.outcome
    assert targets(idle_pool) == (2, 0)
    # The pool keeps its own formula and interval: Pulumi sees no drift.
    wire = idle_pool.emulator.pool_wire()
    assert wire["autoScaleFormula"] == FORMULA and wire["autoScaleEvaluationInterval"] == "PT5M"
    assert backend.wait("cold-1", timeout=60).ok


def visible_at(stack: EmulatedStack) -> float:
    """When the pool's formula can first see the job's tasks: the first sample counting them
    (recorded already, or the next one), plus the pool's lag."""
    with stack.emulator.account.lock:
        pool = stack.emulator.pool()
        counted = [t for t, v in pool.samples.get("$PendingTasks", []) if v > 0]
        return (counted[0] if counted else pool.next_sample) + pool.spec.sample_lag_seconds


def evaluated_at(stack: EmulatedStack) -> float:
    """The time of the pool's last autoscale evaluation (Batch's own record of it)."""
    from datetime import datetime

    stamp = stack.emulator.pool_wire()["autoScaleRun"]["timestamp"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# (sample period, lag, seconds after the last sample the job is submitted): the documented
# model, then shorter and longer lags and a longer period than Batch documents.
MODELS = {
    "documented-30s-60s": (30.0, 60.0, 1.0),
    "lag-30s": (30.0, 30.0, 1.0),
    "lag-100s": (30.0, 100.0, 1.0),
    "period-60s": (60.0, 60.0, 1.0),
}


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_nodes_are_requested_within_a_probe_step_of_the_tasks_becoming_visible(
    pool_stack: Any, model: tuple[float, float, float]
) -> None:
    from tests.emulator.pools import PoolSpec

    period, lag, before_sample = model
    stack: EmulatedStack = pool_stack(
        PoolSpec(
            formula=FORMULA,
            interval_seconds=INTERVAL,
            container=True,
            sample_period_seconds=period,
            sample_lag_seconds=lag,
        )
    )
    readings: list[float] = []
    backend = stack.backend(cold_start=emulated_clock(stack, readings))
    backend.batch.get_pool(stack.emulator.pool_id)  # connected: the submission is quick
    clock = stack.emulator.clock
    with stack.emulator.account.lock:
        next_sample = stack.emulator.pool().next_sample
    clock.advance((next_sample - clock.now() - before_sample) % period)  # a sample is due
    backend.submit(job("cold-model"))
    assert backend.cold_start is not None
    report = backend.cold_start.result(timeout=120)
    assert report is not None and report.nodes_requested_at is not None, report
    visible = visible_at(stack)
    # Probes run every second where the documented model shows the tasks, else every 5 s:
    # the probe that saw them was due within a step of their becoming visible, and no probe
    # due after that went by. (Times on the re-arm's schedule: the emulated clock also runs
    # on host time, which a loaded machine stretches between a probe's due time and its
    # request, so measured times carry no bound here.)
    window = rearm.SAMPLE_LAG_SECONDS < visible - report.tasks_added_at <= 90
    step = rearm.PROBE_CLOSE_SECONDS if window else rearm.PROBE_EVERY_SECONDS
    *earlier, seen_by = probes_due(stack, report)
    assert visible <= report.nodes_requested_at and seen_by <= visible + step, (visible, report)
    assert all(due < visible for due in earlier), (visible, earlier[-3:], report)
    # The time reported is when Batch evaluated the formula and asked for the nodes: the
    # request was made at that reading of the clock, and answered before the next one.
    after = readings[readings.index(report.nodes_requested_at) + 1]
    assert report.nodes_requested_at <= evaluated_at(stack) <= after, (readings[-3:], report)
    assert targets(stack) == (2, 0)


def test_a_refused_rearm_says_why_and_the_job_runs_on_the_normal_schedule(
    idle_pool: EmulatedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    idle_pool.emulator.faults.add("enable_pool_auto_scale", "403")
    backend = idle_pool.backend(cold_start=emulated_clock(idle_pool))
    backend.submit(job("cold-2"))
    assert backend.cold_start is not None
    report = backend.cold_start.result(timeout=120)
    assert report is not None and report.nodes_requested_at is None
    assert "403 AuthorizationFailure" in report.outcome
    assert "'SuperBatch pool autoscale re-arm' on the pool" in report.outcome
    assert "\n" not in report.outcome
    assert targets(idle_pool) == (0, 0)  # nothing asked for nodes yet ...
    idle_pool.emulator.clock.advance(INTERVAL)  # ... until the pool's own next evaluation
    assert targets(idle_pool) == (2, 0)
    assert backend.wait("cold-2", timeout=60).ok


def test_the_30_second_limit_is_one_line_and_the_job_runs_on_the_normal_schedule(
    idle_pool: EmulatedStack,
) -> None:
    from azure.batch.models import BatchPoolEnableAutoScaleOptions

    emulator = idle_pool.emulator
    backend = idle_pool.backend(cold_start=None)
    backend.submit(job("cold-3"))
    with emulator.account.lock:  # the first sample that counts the tasks, and when it is seen
        pool = emulator.pool()
        visible_at = pool.next_sample + pool.spec.sample_lag_seconds
    other = emulator.client()  # another runner, re-arming the same pool a little earlier
    raced: list[float] = []

    def sleep(seconds: float) -> None:
        emulator.clock.advance(seconds)
        if not raced and emulator.clock.now() >= visible_at - 10:
            options = BatchPoolEnableAutoScaleOptions(
                auto_scale_formula=FORMULA, auto_scale_evaluation_interval=timedelta(minutes=5)
            )
            other.enable_pool_auto_scale(emulator.pool_id, options)  # sees no task yet
            raced.append(emulator.clock.now())

    said: list[str] = []
    report = rearm.Rearm(
        backend.batch, emulator.pool_id, now=emulator.clock.now, sleep=sleep, say=said.append
    ).run(emulator.clock.now())
    assert raced and raced[0] < visible_at
    assert report.nodes_requested_at is None
    assert "409 TooManyEnableAutoScaleRequests" in report.outcome and said == [report.outcome]
    assert targets(idle_pool) == (0, 0)
    emulator.clock.advance(INTERVAL)  # the pool's schedule (restarted by the other runner)
    assert targets(idle_pool) == (2, 0)
    assert backend.wait("cold-3", timeout=60).ok


def test_a_pool_with_nodes_is_left_alone(idle_pool: EmulatedStack) -> None:
    idle_pool.emulator.faults.add("evaluate_pool_auto_scale", "403")  # never reached
    with idle_pool.emulator.account.lock:
        idle_pool.emulator.pool().resize(1, 0, "taskcompletion", ready=True)
    backend = idle_pool.backend(cold_start=emulated_clock(idle_pool))
    backend.submit(job("cold-4"))
    assert backend.cold_start is not None
    report = backend.cold_start.result(timeout=120)
    assert report is not None and "already has nodes" in report.outcome
    assert idle_pool.emulator.requests["evaluate_pool_auto_scale"] == 0


def test_status_says_when_nodes_were_requested_and_how_long_they_take(
    idle_pool: EmulatedStack,
) -> None:
    with idle_pool.emulator.account.lock:
        idle_pool.emulator.pool().spec.node_start_seconds = 600  # nodes stay starting
    backend = idle_pool.backend(cold_start=None)
    backend.submit(job("cold-5"))
    waiting = backend.status("cold-5")
    assert waiting.pool == "default"
    assert waiting.nodes is not None
    assert waiting.nodes.startswith("no nodes requested yet: the pool's formula runs next at ")
    assert "(every 5 min)" in waiting.nodes
    idle_pool.emulator.clock.advance(INTERVAL)  # the pool's own evaluation asks for nodes
    requested = backend.status("cold-5").nodes
    assert requested is not None and "2 node(s) requested at " in requested
    assert "0 ready; standard_d2s_v3 nodes usually take 3-8 minutes to start" in requested
    assert "(commonly reported: github.com/Azure/Batch/issues/145)" in requested


def test_status_shows_how_long_nodes_of_this_size_took_here(idle_pool: EmulatedStack) -> None:
    emulator = idle_pool.emulator
    with emulator.account.lock:
        emulator.pool().spec.node_start_seconds = 240
    emulator.hold = True  # tasks wait on the nodes, so status lists them once they are up
    backend = idle_pool.backend(cold_start=None)
    backend.submit(job("cold-6"))
    emulator.clock.advance(INTERVAL + 240)  # requested at the evaluation, up 4 minutes later
    assert backend.status("cold-6").nodes == "2 node(s) ready (standard_d2s_v3)"
    emulator.hold = False
    assert backend.wait("cold-6", timeout=60).ok
    emulator.clock.advance(2 * INTERVAL)  # a quiet window: the formula lets the nodes go
    assert targets(idle_pool) == (0, 0) and emulator.nodes() == []
    # A later job on the idle pool: its nodes are told with the time measured here.
    backend.submit(job("cold-7"))
    waiting = backend.status("cold-7").nodes
    assert waiting is not None and waiting.startswith("no nodes requested yet"), waiting
    assert "then standard_d2s_v3 nodes took 4.0 min to start here (median of 2 measured" in waiting


def test_following_a_job_notes_how_long_its_nodes_took(idle_pool: EmulatedStack) -> None:
    """``run``/``wait`` read the pool and its nodes while tasks wait (PoolWatch): the nodes'
    starts are noted there too, not only by ``status``."""
    from superbatch.azure import boots
    from superbatch.azure.pool import PoolWatch

    emulator = idle_pool.emulator
    with emulator.account.lock:
        emulator.pool().spec.node_start_seconds = 150
    emulator.hold = True
    backend = idle_pool.backend(cold_start=None)
    backend.submit(job("cold-8"))
    emulator.clock.advance(INTERVAL + 150)
    watch = PoolWatch(backend.batch, emulator.pool_id)
    watch.poll()  # the pool: it has nodes
    state = watch.poll()  # then its nodes
    assert state is not None and state.nodes == {"idle": 2}
    assert boots.usual_start("standard_d2s_v3") == (
        "standard_d2s_v3 nodes took 2.5 min to start here (median of 2 measured, 2.5-2.5 min)"
    )
