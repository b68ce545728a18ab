"""Cold start on the emulator's clock: from ``run`` to nodes requested and to the first task
running, with and without the runner's autoscale re-arm (issue 15).

Each measurement gets a fresh pool idling at zero nodes, with the stack's own formula
(``infra.autoscale``), evaluated every 5 minutes, and nodes that take ``NODE_START`` seconds to
boot. The job (2 tasks) is submitted at every point of the evaluation cycle (``PHASES``: 0,
20, ..., 280 s after an evaluation, so also just after a sample is taken, the worst case).
Without re-arm the clock steps until the pool's own schedule asks for nodes; with it, the
runner's re-arm (``superbatch.azure.rearm``) drives the clock as it waits. "Nodes requested"
is Batch's own record: the time of the autoscale evaluation that set targets above zero.

Under the documented sample model (one every 30 s, seen about a minute later) no runner can
ask for nodes before the formula sees the tasks: the floor, in the worst case, is 90 s. The
same runs under a second model (``MODELS``: samples seen 45 s late) show the re-arm follows
the pool's real lag rather than the documented one. Prints both distributions per model.

    uv run python -m bench.bench_cold_start
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import sys
from typing import Any

from bench._harness import bench_stack, ratio_line
from infra.autoscale import autoscale_formula

from superbatch.azure import rearm
from superbatch.azure.backend import AzureBatchBackend
from superbatch.azure.outputs import outputs_from_file
from superbatch.azure.wire import wire_enum
from superbatch.contract import PoolInfo
from superbatch.model import ResolvedJob, TaskSpec

INTERVAL = 300.0  # the stack's default autoscaleIntervalMinutes = 5
NODE_START = 240.0  # seconds a node takes to boot (3-8 minutes are reported)
PHASES = [float(p) for p in range(0, 300, 20)]
# (sample period, lag): Batch's documented model first, then a shorter lag.
MODELS = [(30.0, 60.0), (30.0, 45.0)]
STEP = 1.0  # clock step while watching (seconds)
TARGET_WORST = 90.0
FORMULA = autoscale_formula(max_nodes=2, task_slots_per_node=1, spot=False)


def job(job_id: str) -> ResolvedJob:
    tasks = tuple(TaskSpec(str(i), f"echo {i}") for i in range(2))
    return ResolvedJob(
        job_id=job_id,
        name="cold",
        image="docker.io/library/busybox:1.36",
        tasks=tasks,
        outputs=(),
    )


def nodes_requested(emulator: Any, pool_id: str) -> bool:
    wire = emulator.pool_wire(pool_id)
    return bool(wire["targetDedicatedNodes"] or wire["targetLowPriorityNodes"])


def evaluated_at(emulator: Any, pool_id: str) -> float:
    """When the pool's last autoscale evaluation ran (its ``autoScaleRun.timestamp``)."""
    from datetime import datetime

    stamp = emulator.pool_wire(pool_id)["autoScaleRun"]["timestamp"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def task_started(client: Any, job_id: str) -> bool:
    return any(
        wire_enum(t.state) != "active" for t in client.list_tasks(job_id, select=["id", "state"])
    )


@dataclasses.dataclass(frozen=True)
class Run:
    """One submission, emulated seconds from ``run``."""

    requested: float  # nodes requested (Batch's evaluation that set targets above zero)
    first_task: float  # the first task running
    added: float  # the tasks added
    visible: float  # the formula can first see them (first sample counting them + the lag)


def visible_at(emulator: Any, pool_id: str) -> float:
    with emulator.account.lock:
        pool = emulator.account.pool(pool_id)
        counted = [t for t, v in pool.samples.get("$PendingTasks", []) if v > 0]
        return (counted[0] if counted else pool.next_sample) + pool.spec.sample_lag_seconds


def measure(
    stack: Any, phase: float, model: tuple[float, float], *, with_rearm: bool, number: int
) -> Run:
    from tests.emulator.pools import PoolSpec

    emulator = stack.emulator
    clock = emulator.clock
    pool_id = f"cold-{number}-{'rearm' if with_rearm else 'plain'}"
    spec = PoolSpec(
        id=pool_id,
        formula=FORMULA,
        interval_seconds=INTERVAL,
        node_start_seconds=NODE_START,
        sample_period_seconds=model[0],
        sample_lag_seconds=model[1],
        container=True,
    )
    base = outputs_from_file(stack.outputs_file)
    pool = PoolInfo("default", pool_id, None, None, None, None, None, None, None)
    outputs = dataclasses.replace(base, pool_id=pool_id, pools={"default": pool})
    emulated = rearm.Clock(now=clock.now, sleep=clock.advance)
    backend = AzureBatchBackend(outputs, cold_start=emulated if with_rearm else None)
    # The pool's evaluation (and a sample) at its creation: the job comes `phase` s later.
    emulator.add_pool(spec)
    clock.advance(phase)
    job_id = f"{pool_id}-job"
    started_at = clock.now()
    backend.submit(job(job_id))
    added_at = clock.now()
    if with_rearm:
        assert backend.cold_start is not None
        report = backend.cold_start.result(timeout=600)
        assert report is not None
        added_at = report.tasks_added_at
    client = emulator.client()
    while not nodes_requested(emulator, pool_id):
        clock.advance(STEP)
    requested_at = evaluated_at(emulator, pool_id)
    visible = visible_at(emulator, pool_id)
    clock.advance(max(0.0, requested_at + NODE_START - clock.now() - STEP))  # nodes boot
    while not task_started(client, job_id):
        clock.advance(STEP)
    return Run(
        requested_at - started_at,
        clock.now() - started_at,
        added_at - started_at,
        visible - started_at,
    )


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"  {name:<34} min {ordered[0]:6.1f} s  median {statistics.median(ordered):6.1f} s  "
        f"p90 {p90:6.1f} s  max {ordered[-1]:6.1f} s"
    )


def report(model: tuple[float, float], results: dict[bool, list[Run]]) -> None:
    period, lag = model
    print(
        f"\ncold start, {len(PHASES)} submissions spread over the {INTERVAL:.0f}-s evaluation "
        f"cycle; a sample every {period:.0f} s, seen {lag:.0f} s later; nodes boot in "
        f"{NODE_START:.0f} s"
    )
    print("submitted at (s after an evaluation): " + ", ".join(f"{p:.0f}" for p in PHASES))
    for with_rearm, label in ((False, "pool schedule only"), (True, "with re-arm")):
        rows = results[with_rearm]
        print(f"{label}:")
        print(summary("run -> nodes requested", [r.requested for r in rows]))
        print(summary("run -> first task running", [r.first_task for r in rows]))
        print(
            "  per submission (requested/first task): "
            + ", ".join(f"{r.requested:.1f}/{r.first_task:.0f}" for r in rows)
        )
    rearmed = results[True]
    worst = max(rearmed, key=lambda r: r.requested)
    floor = period + lag  # tasks added just after a sample: the next one, seen a lag later
    print(
        f"worst case with re-arm {worst.requested:.2f} s = {worst.added:.2f} s adding the "
        f"tasks + {worst.visible - worst.added:.2f} s until the formula could see them "
        f"(at most one period + the lag = {floor:.0f} s) + "
        f"{worst.requested - worst.visible:.2f} s until nodes were requested"
    )
    late = max(r.requested - r.visible for r in rearmed)
    print(f"nodes requested at most {late:.2f} s after the formula could first see the tasks")
    worst_plain = max(r.requested for r in results[False])
    mean_plain = statistics.mean(r.requested for r in results[False])
    mean_rearm = statistics.mean(r.requested for r in rearmed)
    if model == MODELS[0]:
        print(
            ratio_line(
                "worst case run -> nodes requested, with re-arm",
                worst.requested,
                f"target <= {TARGET_WORST:.0f} s",
                worst.requested <= TARGET_WORST,
            )
        )
    print(f"worst case without re-arm: {worst_plain:.0f} s ({worst_plain / worst.requested:.1f}x)")
    print(
        f"mean run -> nodes requested: {mean_plain:.0f} s without, {mean_rearm:.0f} s with "
        f"({mean_plain / mean_rearm:.1f}x)"
    )


class _Once(logging.Filter):
    """Each distinct warning once: every measurement is a new job, and the runner warns per
    job (the bench's image is on Docker Hub, which says nothing about cold start)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def main() -> int:
    logging.getLogger("superbatch.azure.backend").addFilter(_Once())
    with bench_stack(hold=False) as stack:
        number = 0
        for model in MODELS:
            results: dict[bool, list[Run]] = {False: [], True: []}
            for phase in PHASES:
                for with_rearm in (False, True):
                    number += 1
                    results[with_rearm].append(
                        measure(stack, phase, model, with_rearm=with_rearm, number=number)
                    )
            report(model, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
