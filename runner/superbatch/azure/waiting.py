"""Following a job until it ends: one task-counts request per poll whatever the job size.

The poll interval adapts (``monitor.PollInterval``). Task counts lag the tasks themselves,
so "done" is confirmed with one listing of tasks that are not completed (filtered, ids only)
before anything is reported as finished. The process that leads the job applies its policy
at each poll (``azure/enforce.py``); the others only follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from superbatch.azure.ending import end_finished_job
from superbatch.azure.enforce import Enforcer, Step
from superbatch.azure.errors import call_with_retries
from superbatch.azure.monitor import (
    INTERRUPTED_AFTER_POLLS,
    STUCK_GIVE_UP_SECONDS,
    PollInterval,
    StderrReader,
    job_status,
    task_counts,
    unfinished_task_ids,
    without_one,
)
from superbatch.azure.pool import PoolWatch
from superbatch.azure.wire import wire_enum
from superbatch.errors import JobStuckError, RemoteError
from superbatch.model import (
    AGGREGATE_TASK_ID,
    JobStatus,
    PoolProgress,
    PoolState,
    ProgressCallback,
    TaskCounts,
    TaskState,
)
from superbatch.policy import aggregate_may_run

if TYPE_CHECKING:
    from azure.batch import BatchClient


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
        return without_one(counts, TaskState.FAILED if raw.failed else TaskState.SUCCEEDED)
    if raw.completed == expected_tasks and raw.running:
        return without_one(counts, TaskState.RUNNING)
    return without_one(counts, TaskState.QUEUED)


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
