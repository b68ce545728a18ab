"""Monitoring: one task-counts request per poll whatever the job size.

The poll interval adapts: short while counts move, growing (up to a cap) while nothing
changes, so a 10-minute node start costs a handful of requests, not thousands. Task counts
lag the tasks themselves, so "done" is confirmed with one listing of tasks that are not
completed (filtered, ids only) before anything is reported as finished. Failed tasks are
reported with Batch's failure info and the tail of their stored stderr.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from superbatch.azure import jobend
from superbatch.azure.ending import end_finished_job, end_job
from superbatch.azure.enforce import Enforcer, Step
from superbatch.azure.errors import (
    call_with_retries,
    image_not_found_message,
)
from superbatch.azure.policy import reactivations
from superbatch.azure.pool import PoolWatch
from superbatch.azure.wire import wire_enum
from superbatch.errors import JobStuckError, RemoteError
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    JobStatus,
    PoolProgress,
    PoolState,
    ProgressCallback,
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
    return counts if aggregate is None else _without(counts, aggregate.state)


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
        counts = _without(counts, aggregate.state)
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


def _without(counts: TaskCounts, state: TaskState) -> TaskCounts:
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


def wait_for_job(
    client: BatchClient,
    job_id: str,
    *,
    expected_tasks: int,
    has_aggregate: bool,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    stderr: StderrReader | None = None,
    interval: PollInterval | None = None,
    on_blocked_aggregate: Callable[[], None] | None = None,
    allow_failures: int = 0,
    too_many: Callable[[int], bool] | None = None,
    on_too_many: Callable[[], None] | None = None,
    pool: PoolWatch | None = None,
    stuck_after: float = STUCK_GIVE_UP_SECONDS,
    watched: bool = False,
    deferred: bool = False,
    enforcer: Enforcer | None = None,
    lead: Callable[[], Enforcer | None] | None = None,
) -> JobStatus:
    """Poll counts until every task is completed (confirmed by a listing); return the status.

    While tasks wait for nodes, ``pool`` is read (one request per poll) and shown through
    ``progress.pool``; a job stuck (tasks waiting, none running, the pool saying no node
    can come) for ``stuck_after`` seconds of the service's time raises JobStuckError.
    ``too_many(failed)``: max_failures; once true, ``on_too_many`` stops the job.

    ``enforcer``: this process leads the job (azure/enforce.py) and applies its policy at
    every poll; without one, ``lead()`` (if given) is asked at every poll whether this
    process may lead now (no watcher alive). A ``watched`` job (one the monitor ends) is
    only followed by a process that does not lead: it ends when its leader ends it. A
    ``deferred`` aggregate is added by the leader once every task ended.
    """
    interval = interval or PollInterval()
    deadline = None if timeout is None else time.monotonic() + timeout
    total = expected_tasks + int(has_aggregate and not deferred)
    last: Any = None
    idle_polls = 0  # polls in a row with tasks missing and nothing changing
    quiet_polls = 0  # polls in a row with nothing changing
    pool_seen: PoolState | None = None
    while True:
        counts, raw = task_counts(client, job_id)
        changed = last is None or raw.as_dict() != last
        last = raw.as_dict()
        present = raw.active + raw.running + raw.completed
        # a deferred aggregate is counted once added
        with_aggregate = has_aggregate and (not deferred or present > expected_tasks)
        regular = _regular_counts(counts, raw, expected_tasks) if with_aggregate else counts
        if progress is not None:
            progress(regular)
        finished = raw.completed >= total and raw.active == 0 and raw.running == 0
        if enforcer is None and lead is not None:
            enforcer = lead()  # the watcher is gone: lead from here
        if enforcer is not None:
            step = enforcer.poll(raw, regular.failed)
            if step is Step.ENDED:
                return job_status(client, job_id, stderr=stderr, has_aggregate=has_aggregate)
            changed = changed or step is Step.CHANGED
        elif too_many is not None and on_too_many is not None and too_many(regular.failed):
            on_too_many()
            return job_status(client, job_id, stderr=stderr, has_aggregate=has_aggregate)
        blocked = (
            not watched
            and has_aggregate
            and not aggregate_may_run(regular.failed, allow_failures)
            and raw.failed > 0
            and raw.completed >= expected_tasks
            and raw.running == 0
        )
        if pool is not None and _waiting_for_nodes(raw, expected_tasks, with_aggregate):
            state = pool.poll()
            shape = state.shape() if state is not None else None
            changed = changed or shape != pool_seen
            pool_seen = shape
            if state is not None and isinstance(progress, PoolProgress):
                progress.pool(state)
            if state is not None and raw.running == 0 and pool.stuck_for() >= stuck_after:
                raise _stuck(client, job_id, state, pool.stuck_for(), has_aggregate)
        idle_polls = 0 if changed or present >= total else idle_polls + 1
        quiet_polls = 0 if changed else quiet_polls + 1
        if quiet_polls >= INTERRUPTED_AFTER_POLLS and raw.running == 0 and _ended(client, job_id):
            # cancelled or stopped: tasks that never started stay active, and nothing runs
            return job_status(client, job_id, stderr=stderr, has_aggregate=has_aggregate)
        added = (
            _added_before_interruption(client, job_id)
            if idle_polls >= INTERRUPTED_AFTER_POLLS
            else None
        )
        if added is not None and added < total:
            raise RemoteError(
                f"submission of {job_id} was interrupted ({added} of {total} tasks added): "
                "re-run the same `superbatch run SPEC --stack ...` command to finish it"
            )
        if watched:
            pass  # its leader ends it (and the quiet-poll check above sees that)
        elif (finished or blocked) and not _still_running(client, job_id, has_aggregate, blocked):
            if blocked and on_blocked_aggregate is not None:
                on_blocked_aggregate()
            elif not blocked:
                end_finished_job(client, job_id)
            return job_status(client, job_id, stderr=stderr, has_aggregate=has_aggregate)
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(
                f"job {job_id} is still running after {timeout:.0f}s: "
                f"`superbatch wait {job_id}` picks it up again"
            )
        time.sleep(interval.next(changed))


def _ended(client: BatchClient, job_id: str) -> bool:
    job = call_with_retries(
        lambda: client.get_job(job_id, select=["id", "state"]), action=f"find job {job_id}"
    )
    return wire_enum(job.state) == "completed"


def _waiting_for_nodes(raw: Any, expected_tasks: int, has_aggregate: bool) -> bool:
    """Some task is queued that is not the aggregate step waiting for its dependencies."""
    blocked_aggregate = has_aggregate and raw.completed < expected_tasks
    return bool(raw.active - int(blocked_aggregate) > 0)


def _stuck(
    client: BatchClient, job_id: str, state: PoolState, seconds: float, has_aggregate: bool
) -> JobStuckError:
    status = job_status(client, job_id, has_aggregate=has_aggregate)
    since = f" (stuck for {max(1, round(seconds / 60))} min)" if seconds < 1e9 else ""
    error = JobStuckError(
        f"job {job_id} cannot progress{since}: {state.problem}; its tasks "
        f"stay queued: once fixed, `superbatch wait {job_id}` follows it again"
    )
    error.status = replace(status, nodes=state.line(), pool_state=state)
    return error


def _regular_counts(counts: TaskCounts, raw: Any, expected_tasks: int) -> TaskCounts:
    """Counts without the aggregate step (as --local shows them), from the one counts answer."""
    if raw.completed > expected_tasks:  # the aggregate completed too; it only runs when no
        # task failed, so any failure means it failed or was stopped: it is in that bucket
        return _without(counts, TaskState.FAILED if raw.failed else TaskState.SUCCEEDED)
    if raw.completed == expected_tasks and raw.running:
        return _without(counts, TaskState.RUNNING)
    return _without(counts, TaskState.QUEUED)


def _added_before_interruption(client: BatchClient, job_id: str) -> int | None:
    """How many tasks the job holds if it was never switched to ``terminatejob`` (the
    submitting run switches it once every task is added), else None."""
    job = call_with_retries(
        lambda: client.get_job(job_id, select=["id", "onAllTasksComplete"]),
        action=f"find job {job_id}",
    )
    if wire_enum(job.all_tasks_complete_mode) != "noaction":
        return None
    return call_with_retries(  # counts lag: one listing of ids says what is really there
        lambda: sum(1 for _ in client.list_tasks(job_id, select=["id"])),
        action=f"list the tasks of job {job_id}",
    )


def _still_running(client: BatchClient, job_id: str, has_aggregate: bool, blocked: bool) -> bool:
    unfinished = unfinished_task_ids(client, job_id)
    if blocked:  # the aggregate waits on a failed task and never runs: that is final
        unfinished = [task for task in unfinished if task != AGGREGATE_TASK_ID]
    return bool(unfinished)
