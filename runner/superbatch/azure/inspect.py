"""The Azure backend's read-only views that are not status: the jobs it has (``list``,
``job_ids``), one line per task (``tasks``) and every attempt's times (``timings``)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from superbatch.azure import monitor
from superbatch.azure import policy as azure_policy
from superbatch.azure.errors import translate_azure_error
from superbatch.azure.jobcreate import META_AGGREGATE, META_TASKS
from superbatch.azure.wire import wire_enum
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    JobSummary,
    TaskInfo,
    TaskResult,
    TaskState,
)

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend
    from superbatch.timings import TaskTimings


def list_jobs(backend: AzureBatchBackend) -> builtins.list[JobSummary]:
    try:
        jobs = list(backend.batch.list_jobs(select=["id", "state", "creationTime", "metadata"]))
    except Exception as exc:
        raise translate_azure_error(exc, action="list jobs") from exc
    summaries = []
    for job in jobs:
        meta = {item.name: item.value for item in (job.metadata or [])}
        if META_TASKS not in meta:
            continue  # not ours
        has_aggregate = meta.get(META_AGGREGATE) == "1"
        counts = monitor.job_task_counts(backend.batch, job.id, has_aggregate=has_aggregate)
        created = job.creation_time.isoformat() if job.creation_time else None
        summaries.append(JobSummary(job.id, wire_enum(job.state), counts, created))
    return summaries


def job_ids(backend: AzureBatchBackend) -> builtins.list[str]:
    try:
        jobs = list(backend.batch.list_jobs(select=["id", "metadata"]))
    except Exception as exc:
        raise translate_azure_error(exc, action="list jobs") from exc
    return [j.id for j in jobs if META_TASKS in {m.name for m in (j.metadata or [])}]


def task_timings(backend: AzureBatchBackend, job_id: str) -> builtins.list[TaskTimings]:
    from superbatch.timings import TaskTimings

    meta = backend._job_meta(job_id)
    again = azure_policy.reactivations(meta)
    found = backend._all_tasks(
        job_id, lambda task: _timings(task, again), select=["nodeInfo", "creationTime"]
    )
    if meta.get(META_AGGREGATE) == "1" and AGGREGATE_TASK_ID not in {t.task_id for t in found}:
        # deferred and never added (azure/enforce.py): it did not run
        found.append(TaskTimings(AGGREGATE_TASK_ID, AGGREGATE_LABEL, TaskState.QUEUED, None))
    return sorted(found, key=task_order)


def task_infos(backend: AzureBatchBackend, job_id: str) -> builtins.list[TaskInfo]:
    # an unknown job is JobNotFoundError, not an empty list
    again = azure_policy.reactivations(backend._job_meta(job_id))
    infos = backend._all_tasks(
        job_id, lambda task: monitor.task_info(task, again.get(task.id, 0)), select=["nodeInfo"]
    )
    return sorted(infos, key=task_order)


def _timings(task: Any, again: dict[str, int]) -> TaskTimings:
    """One task's attempts from its listing (the SDK model is dropped once read)."""
    from superbatch.timings import TaskTimings, spread_attempts

    info = monitor.task_info(task, again.get(task.id, 0))
    execution = task.execution_info
    queued = monitor.epoch(task.creation_time)
    start = info.start
    last_retry = monitor.epoch(getattr(execution, "last_retry_time", None))
    if again.get(task.id) and start is not None:
        # reactivated by the runner: Batch keeps only the last attempt's times
        start, last_retry = queued or start, last_retry or start
    attempts = spread_attempts(
        info.attempts,
        start=start,
        last_retry=last_retry,
        end=info.end,
        exit_code=info.exit_code,
        node=info.node,
    )
    return TaskTimings(info.task_id, info.label, info.state, queued, attempts)


def task_order(result: TaskResult | TaskInfo | TaskTimings) -> tuple[int, int | str]:
    task_id = result.task_id
    return (0, int(task_id)) if task_id.isdigit() else (1, task_id)
