"""A local job's status, read from its records: counts, failed tasks with their stderr
tail, the aggregate step, and the job's state (running, interrupted, completed, ended)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from superbatch.local.node import NodeLayout
from superbatch.local.state import JobStore, TaskRecord
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    JobStatus,
    ResolvedJob,
    TaskCounts,
    TaskState,
    TaskStatus,
)

STDERR_TAIL_LINES = 10
LOCAL_NODES = "tasks run on this machine (--local), the pool applies on Azure"


def job_status(
    job: ResolvedJob,
    records: dict[str, TaskRecord],
    *,
    node: NodeLayout,
    alive: bool,
    store: JobStore | None = None,
) -> JobStatus:
    tally = dict.fromkeys(TaskState, 0)
    failed = []
    for task in job.tasks:
        record = records.get(task.id, TaskRecord())
        state = record.state
        if state == TaskState.RUNNING and not alive:
            state = TaskState.QUEUED  # interrupted: a re-run (or `wait`) runs it again
        tally[state] += 1
        if state == TaskState.FAILED:
            failed.append(task_status(node, job.job_id, task.id, record, task.label))
    aggregate = None
    if job.aggregate is not None:
        record = records.get(AGGREGATE_TASK_ID, TaskRecord())
        if record.state == TaskState.RUNNING and not alive:
            record = TaskRecord()
        aggregate = task_status(node, job.job_id, AGGREGATE_TASK_ID, record, AGGREGATE_LABEL)
    counts = TaskCounts(
        tally[TaskState.QUEUED],
        tally[TaskState.RUNNING],
        tally[TaskState.SUCCEEDED],
        tally[TaskState.FAILED],
    )
    # A pool the spec names is reported (the same spec runs on Azure), not used.
    pool: dict[str, Any] = {"pool": job.pool, "nodes": LOCAL_NODES} if job.pool else {}
    allow = job.aggregate.allow_failures if job.aggregate else 0
    status = JobStatus(
        job.job_id, "active", counts, tuple(failed), aggregate, allow_failures=allow, **pool
    )
    label = "completed" if status.done else ("active" if alive else "interrupted")
    ended = store.ended() if store is not None else None
    return replace(status, state=ended or label)


def task_status(
    node: NodeLayout, job_id: str, task_id: str, record: TaskRecord, label: str
) -> TaskStatus:
    tail = ""
    if record.state == TaskState.FAILED:
        stderr = node.task_dir(job_id, task_id) / "stderr.txt"
        if stderr.is_file():
            lines = stderr.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(lines[-STDERR_TAIL_LINES:])
    return TaskStatus(
        task_id, record.state, record.exit_code, record.attempts, record.failure, tail, label
    )


def task_labels(job: ResolvedJob) -> dict[str, str]:
    """Task id -> label, in id order, the aggregate step last (as the manifest lists them)."""
    labels = {task.id: task.label for task in job.tasks}
    if job.aggregate is not None:
        labels[AGGREGATE_TASK_ID] = AGGREGATE_LABEL
    return labels
