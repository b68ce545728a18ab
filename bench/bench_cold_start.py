"""Cold start on the emulator's clock: from ``run`` to nodes requested and to the first task
running, with and without the runner's autoscale re-arm (issue 15).

Each measurement gets a fresh pool idling at zero nodes, with the stack's own formula
(``infra.autoscale``), evaluated every 5 minutes, task samples every 30 s that the formula
sees a minute late, and nodes that take ``NODE_START`` seconds to boot. The job (2 tasks) is
submitted at every point of the evaluation cycle (``PHASES``: 0, 20, ..., 280 s after an
evaluation). Without re-arm the clock steps until the pool's own schedule asks for nodes;
with it, the runner's re-arm (``superbatch.azure.rearm``) drives the clock as it waits.
Prints both distributions and the worst cases (target: nodes requested within 90 s).

    uv run python -m bench.bench_cold_start
"""

from __future__ import annotations

import dataclasses
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


def task_started(client: Any, job_id: str) -> bool:
    return any(
        wire_enum(t.state) != "active" for t in client.list_tasks(job_id, select=["id", "state"])
    )


def measure(stack: Any, phase: float, *, with_rearm: bool, number: int) -> tuple[float, float]:
    """(run -> nodes requested, run -> first task running), emulated seconds."""
    from tests.emulator.pools import PoolSpec

    emulator = stack.emulator
    clock = emulator.clock
    pool_id = f"cold-{number}-{'rearm' if with_rearm else 'plain'}"
    spec = PoolSpec(
        id=pool_id,
        formula=FORMULA,
        interval_seconds=INTERVAL,
        node_start_seconds=NODE_START,
        container=True,
    )
    emulator.add_pool(spec)  # evaluated now (zero nodes), then every INTERVAL
    clock.advance(phase)
    base = outputs_from_file(stack.outputs_file)
    pool = PoolInfo("default", pool_id, None, None, None, None, None, None, None)
    outputs = dataclasses.replace(base, pool_id=pool_id, pools={"default": pool})
    emulated = rearm.Clock(now=clock.now, sleep=clock.advance)
    backend = AzureBatchBackend(outputs, cold_start=emulated if with_rearm else None)
    job_id = f"{pool_id}-job"
    started_at = clock.now()
    backend.submit(job(job_id))
    requested_at = None
    if with_rearm:
        assert backend.cold_start is not None
        report = backend.cold_start.result(timeout=600)
        if report is not None and report.nodes_requested_at is not None:
            requested_at = report.nodes_requested_at
    client = emulator.client()
    while requested_at is None:
        if nodes_requested(emulator, pool_id):
            requested_at = clock.now()
            break
        clock.advance(STEP)
    while not task_started(client, job_id):
        clock.advance(STEP)
    first_task = clock.now()
    return requested_at - started_at, first_task - started_at


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"  {name:<34} min {ordered[0]:6.0f} s  median {statistics.median(ordered):6.0f} s  "
        f"p90 {p90:6.0f} s  max {ordered[-1]:6.0f} s"
    )


def main() -> int:
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with bench_stack(hold=False) as stack:
        number = 0
        for phase in PHASES:
            for with_rearm in (False, True):
                number += 1
                results[with_rearm].append(
                    measure(stack, phase, with_rearm=with_rearm, number=number)
                )
    print(
        f"cold start, {len(PHASES)} submissions spread over the {INTERVAL:.0f}-s evaluation "
        f"cycle; samples {rearm.SAMPLE_LAG_SECONDS:.0f} s late; nodes boot in {NODE_START:.0f} s"
    )
    print("submitted at (s after an evaluation): " + ", ".join(f"{p:.0f}" for p in PHASES))
    for with_rearm, label in ((False, "pool schedule only"), (True, "with re-arm")):
        rows = results[with_rearm]
        print(f"{label}:")
        print(summary("run -> nodes requested", [r for r, _ in rows]))
        print(summary("run -> first task running", [f for _, f in rows]))
        print(
            "  per submission (requested/first task): "
            + ", ".join(f"{r:.0f}/{f:.0f}" for r, f in rows)
        )
    worst_plain = max(r for r, _ in results[False])
    worst_rearm = max(r for r, _ in results[True])
    mean_plain = statistics.mean(r for r, _ in results[False])
    mean_rearm = statistics.mean(r for r, _ in results[True])
    print(
        ratio_line(
            "worst case run -> nodes requested, with re-arm",
            worst_rearm,
            f"target <= {TARGET_WORST:.0f} s",
            worst_rearm <= TARGET_WORST,
        )
    )
    print(f"worst case without re-arm: {worst_plain:.0f} s ({worst_plain / worst_rearm:.1f}x)")
    print(
        f"mean run -> nodes requested: {mean_plain:.0f} s without, {mean_rearm:.0f} s with "
        f"({mean_plain / mean_rearm:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
