"""``run --dry-run``: what a run would do, with everything checked and nothing created.

Backends fill a :class:`Plan` (``Backend.plan``) from reads only: the spec resolved, inputs
hashed, on Azure the staged blobs' metadata, the job and the pool. :func:`with_estimate`
adds node-hours and cost from a per-task duration guess and a price; no price is looked up:
it is ``--price-per-node-hour`` or else the stack's ``pricePerNodeHour`` of the job's pool
(:func:`pick_price`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from superbatch.model import ResolvedJob

PREVIEW_TASKS = 5


@dataclass(frozen=True, slots=True)
class PlannedTask:
    task_id: str
    label: str
    command: str


@dataclass(frozen=True, slots=True)
class Plan:
    job_id: str
    backend: str
    tasks: int
    preview: tuple[PlannedTask, ...]
    aggregate: bool
    exists: bool  # the job is there already: a run reconnects and adds only what is missing
    tasks_to_add: int
    files: int  # files staged (per task and shared)
    bytes_total: int  # their content, each distinct file once
    files_new: int  # Azure: blobs not staged yet (uploads + server-side copies)
    bytes_new: int  # Azure: bytes that would be sent
    files_staged: int  # Azure: blobs already there with the same content
    requests: dict[str, int]  # what a run would ask of each service
    slots_per_node: int  # tasks at once on one node (locally: --parallel)
    nodes: int | None = None  # Azure: nodes the pool would grow to for this job
    estimate_seconds: float | None = None  # per task, the user's guess
    node_hours: float | None = None
    price_per_node_hour: float | None = None
    price_source: str | None = None  # where the price came from (see pick_price)
    cost: float | None = None
    wall_seconds: float | None = None  # with estimate: waves of tasks x the guess


def preview(job: ResolvedJob, count: int = PREVIEW_TASKS) -> tuple[PlannedTask, ...]:
    return tuple(PlannedTask(t.id, t.label, t.command) for t in job.tasks[:count])


PRICE_FLAG = "--price-per-node-hour"


def pick_price(
    flag: float | None, stack: float | None, *, pool: str | None
) -> tuple[float | None, str | None]:
    """The price per node-hour and where it came from: the flag wins over the stack config."""
    if flag is not None:
        return flag, PRICE_FLAG
    if stack is not None:
        return stack, f"stack config pools.{pool or 'default'}.pricePerNodeHour"
    return None, None


def with_estimate(
    plan: Plan, *, seconds: float | None, price: float | None, source: str | None = None
) -> Plan:
    """Node-hours (tasks x guess / slots per node: every slot busy) and cost."""
    if seconds is None:
        return replace(plan, price_per_node_hour=price, price_source=source)
    runs = plan.tasks + int(plan.aggregate)
    slots = max(1, plan.slots_per_node)
    width = slots * (plan.nodes or 1)
    waves = math.ceil(plan.tasks / width) + int(plan.aggregate)
    node_hours = runs * seconds / slots / 3600 if plan.nodes is not None else None
    cost = node_hours * price if node_hours is not None and price is not None else None
    return replace(
        plan,
        estimate_seconds=seconds,
        node_hours=node_hours,
        price_per_node_hour=price,
        price_source=source,
        cost=cost,
        wall_seconds=waves * seconds,
    )


def expected_nodes(tasks: int, slots_per_node: int) -> int:
    """Nodes the pool's autoscale asks for: one per ``slots_per_node`` pending tasks."""
    return max(1, math.ceil(tasks / max(1, slots_per_node)))
