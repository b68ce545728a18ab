"""Monitoring: one task-counts request per poll whatever the job size.

The poll interval adapts: short while counts move, growing (up to a cap) while nothing
changes, so a 10-minute node start costs a handful of requests, not thousands. Task counts
lag the tasks themselves, so "done" is confirmed with one listing of tasks that are not
completed (filtered, ids only) before anything is reported as finished. Failed tasks are
reported with Batch's failure info and the tail of their stored stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from superbatch.azure import jobend
from superbatch.azure.ending import end_job
from superbatch.azure.errors import (
    call_with_retries,
    image_not_found_message,
)
from superbatch.azure.policy import reactivations
from superbatch.azure.wire import wire_enum
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    JobStatus,
    TaskCounts,
    TaskInfo,
    TaskState,
    TaskStatus,
    exit_failure,
)
from superbatch.policy import aggregate_may_run

if TYPE_CHECKING:
    from azure.batch import BatchClient

MIN_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 30.0
STDERR_TAIL_LINES = 20
MAX_FAILED_REPORTED = 50
# Polls in a row with tasks missing and no change before `wait` checks whether the
# submission was interrupted (a live `run` adds a collection far more often than this).
INTERRUPTED_AFTER_POLLS = 3
# How long (on the service's clock) a job may be stuck before `wait` gives up with exit 7:
# two autoscale evaluations at the stack's default 5-minute interval, so a transient
# allocation failure gets a retry, while a quota of 0 stops the wait in minutes, not never.
STUCK_GIVE_UP_SECONDS = 600.0
_IMAGE_FAILURE_CODES = {"ContainerPullImageFailed", "ContainerImageNotFound", "ImagePullFailed"}

StderrReader = Callable[[str], str]
# What a task's status is read from (`$select`): its label is Batch's displayName.
TASK_FIELDS = ["id", "displayName", "state", "executionInfo"]


class PollInterval:
    """Back off while nothing changes, snap back when something does."""

    def __init__(self, low: float = MIN_POLL_SECONDS, high: float = MAX_POLL_SECONDS) -> None:
        self.low, self.high = low, high
        self.current = low

    def next(self, changed: bool) -> float:
        self.current = self.low if changed else min(self.high, self.current * 1.5)
        return self.current


def task_counts(client: BatchClient, job_id: str) -> tuple[TaskCounts, Any]:
    counts = call_with_retries(
        lambda: client.get_job_task_counts(job_id).task_counts,
        action=f"get the task counts of job {job_id}",
    )
    return (
        TaskCounts(
            queued=counts.active,
            running=counts.running,
            succeeded=counts.succeeded,
            failed=counts.failed,
        ),
        counts,
    )


def job_task_counts(client: BatchClient, job_id: str, *, has_aggregate: bool) -> TaskCounts:
    """The job's task counts without its aggregate step (Batch counts it as a task)."""
    counts, _ = task_counts(client, job_id)
    aggregate = _aggregate_status(client, job_id) if has_aggregate else None
    return counts if aggregate is None else without_one(counts, aggregate.state)


def _aggregate_status(client: BatchClient, job_id: str, reactivated: int = 0) -> TaskStatus | None:
    from azure.core.exceptions import ResourceNotFoundError

    def get() -> Any:
        try:
            return client.get_task(job_id, AGGREGATE_TASK_ID, select=TASK_FIELDS)
        except ResourceNotFoundError:
            return None  # not added yet

    task = call_with_retries(get, action=f"get the aggregate step of {job_id}")
    return None if task is None else task_status(task, None, reactivated=reactivated)


def _state(task: Any) -> TaskState:
    state = wire_enum(task.state) or "active"
    info = task.execution_info
    if state == "completed":
        result = wire_enum(info.result) if info is not None else "failure"
        return TaskState.SUCCEEDED if result == "success" else TaskState.FAILED
    return TaskState.RUNNING if state in {"running", "preparing"} else TaskState.QUEUED


def _is_image_failure(code: str | None, message: str | None) -> bool:
    text = f"{code or ''} {message or ''}".lower()
    return code in _IMAGE_FAILURE_CODES or (
        "image" in text and ("pull" in text or "not found" in text)
    )


def task_status(
    task: Any,
    stderr: StderrReader | None,
    *,
    image: str = "",
    registry: str = "",
    reactivated: int = 0,
) -> TaskStatus:
    """``reactivated``: the runner's reactivations of the task (each one attempt more)."""
    info = task.execution_info
    state = _state(task)
    failure = None
    exit_code = info.exit_code if info is not None else None
    if state is TaskState.FAILED:
        fail = info.failure_info if info is not None else None
        if exit_code is not None and (fail is None or fail.code == "FailureExitCode"):
            failure = exit_failure(exit_code)  # worded as --local words it
        elif fail is not None and image and _is_image_failure(fail.code, fail.message):
            failure = image_not_found_message(image, registry, str(fail.message or fail.code))
        elif fail is not None:
            failure = f"{fail.code}: {fail.message}" if fail.message else str(fail.code)
    tail = ""
    if state is TaskState.FAILED and stderr is not None:
        tail = "\n".join(stderr(task.id).splitlines()[-STDERR_TAIL_LINES:])
    attempts = (info.retry_count or 0) + 1 if info is not None and info.start_time else 0
    attempts += reactivated
    if failure is not None and attempts > 1:
        failure += f" (after {attempts} attempts)"
    label = getattr(task, "display_name", None) or ""
    return TaskStatus(task.id, state, exit_code, attempts, failure, tail, label)


def epoch(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def task_info(task: Any, reactivated: int = 0) -> TaskInfo:
    """A task's line in ``superbatch tasks`` (its last attempt's times and node)."""
    status = task_status(task, None, reactivated=reactivated)
    info = task.execution_info
    node = getattr(task, "node_info", None)
    started = info is not None and info.start_time is not None
    return TaskInfo(
        status.task_id,
        status.label,
        status.state,
        status.attempts,
        status.exit_code,
        status.failure,
        node.node_id if node is not None and started else None,
        epoch(info.start_time) if info is not None else None,
        epoch(info.end_time) if info is not None else None,
    )


def job_status(
    client: BatchClient,
    job_id: str,
    *,
    stderr: StderrReader | None = None,
    counts: TaskCounts | None = None,
    has_aggregate: bool | None = None,
    image: str = "",
    registry: str = "",
) -> JobStatus:
    """Counts (aggregate excluded), the failed tasks with their reasons, the aggregate step."""
    job = call_with_retries(
        lambda: client.get_job(job_id, select=["id", "state", "metadata", "executionInfo"]),
        action=f"find job {job_id}",
    )
    meta = {item.name: item.value for item in (job.metadata or [])}
    if has_aggregate is None:
        has_aggregate = meta.get("superbatch_aggregate") == "1"
    if counts is None:
        counts, _ = task_counts(client, job_id)
    again = reactivations(meta)
    aggregate = None
    if has_aggregate:
        aggregate = _aggregate_status(client, job_id, again.get(AGGREGATE_TASK_ID, 0))
    if aggregate is not None:
        counts = without_one(counts, aggregate.state)
    elif has_aggregate:  # deferred (azure/enforce.py): not added until every task ended
        aggregate = never_ran(AGGREGATE_TASK_ID)
    failed: tuple[TaskStatus, ...] = ()
    allow = int(meta.get("superbatch_allow_failures", "0"))
    if counts.failed:
        failed = failed_tasks(
            client, job_id, stderr, image=image, registry=registry, reactivated=again
        )
        if aggregate is not None and not aggregate_may_run(counts.failed, allow):
            aggregate = never_ran(aggregate.task_id)
    return JobStatus(job_id, jobend.job_state(job), counts, failed, aggregate, allow_failures=allow)


BLOCKED_REASON = "TaskFailed: the aggregate step depends on a failed task and can never run"


def aggregate_blocked(client: BatchClient, job_id: str) -> bool:
    """Only the aggregate step is unfinished (one listing, which does not lag like counts).

    Call it once a task is known to have failed for good: the aggregate depends on every
    task, so Batch keeps it blocked, and the job active, forever. The aggregate is added
    after every task exists, so it being there means no task is still to come.
    """
    return unfinished_task_ids(client, job_id) == [AGGREGATE_TASK_ID]


def end_blocked_job(client: BatchClient, job_id: str) -> None:
    """Terminate a job whose aggregate step can never run, saying why.

    Left active, the blocked task keeps the job open (and may count toward the pool's
    $PendingTasks, keeping a node). A job that is already ending or gone is left as it is.
    """
    end_job(client, job_id, BLOCKED_REASON, why="whose aggregate step cannot run")


def never_ran(task_id: str) -> TaskStatus:
    """The aggregate step when a task failed: it waits on it and never runs (as --local)."""
    return TaskStatus(task_id, TaskState.QUEUED, label=AGGREGATE_LABEL)


def without_one(counts: TaskCounts, state: TaskState) -> TaskCounts:
    name = str(state)  # TaskState values are TaskCounts field names
    return replace(counts, **{name: max(0, getattr(counts, name) - 1)})


def failed_tasks(
    client: BatchClient,
    job_id: str,
    stderr: StderrReader | None,
    *,
    image: str = "",
    registry: str = "",
    reactivated: dict[str, int] | None = None,
) -> tuple[TaskStatus, ...]:
    tasks = call_with_retries(
        lambda: list(
            client.list_tasks(
                job_id,
                filter="executionInfo/result eq 'failure'",
                select=TASK_FIELDS,
            )
        ),
        action=f"list the failed tasks of job {job_id}",
    )
    found: list[TaskStatus] = []
    for task in tasks:
        if task.id == AGGREGATE_TASK_ID:
            continue
        reader = stderr if len(found) < MAX_FAILED_REPORTED else None
        again = (reactivated or {}).get(task.id, 0)
        found.append(task_status(task, reader, image=image, registry=registry, reactivated=again))
    return tuple(found)


def unfinished_task_ids(client: BatchClient, job_id: str) -> list[str]:
    """The one filtered, selected listing that confirms what the counts say."""
    return call_with_retries(
        lambda: [
            task.id
            for task in client.list_tasks(job_id, filter="state ne 'completed'", select=["id"])
        ],
        action=f"list the unfinished tasks of job {job_id}",
    )
