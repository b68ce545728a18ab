"""The Azure backend's ``status``: the job's state and counts from Batch, and the steps a
poll takes on the way (a monitor poll when nobody leads the job, ``max_failures``, a
blocked aggregate, the end of a finished job, what queued tasks wait for)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from superbatch.azure import cleanup, ending, enforce, monitor, rearm
from superbatch.azure import policy as azure_policy
from superbatch.azure.jobcreate import META_AGGREGATE, META_IMAGE, META_POOL
from superbatch.azure.pool import PoolWatch
from superbatch.errors import JobNotFoundError
from superbatch.model import DEFAULT_POOL, JobStatus, TaskCounts

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend

# `status` of a job Batch no longer has whose stored files remain (`clean` removes them)
DELETED_STATE = "deleted"


def job_status(backend: AzureBatchBackend, job_id: str) -> JobStatus:
    try:
        meta = backend._job_meta(job_id)
    except JobNotFoundError:
        # `clean` stopped after Batch deleted the job: say so, so it can finish
        if cleanup.has_stored_files([backend.inputs, backend.results_container], job_id):
            return JobStatus(job_id, DELETED_STATE, TaskCounts())
        raise
    watched = meta.get(azure_policy.META_WATCHED) == "1"  # its leader applies the policy
    if watched:
        lead_once(backend, job_id, meta)
    status = monitor.job_status(
        backend.batch,
        job_id,
        stderr=backend._stderr(job_id),
        has_aggregate=meta.get(META_AGGREGATE) == "1",
        image=meta.get(META_IMAGE, ""),
        registry=backend.outputs.registry_login_server,
    )
    if (
        status.state == "active"
        and not watched
        and azure_policy.too_many(meta, status.counts.failed)
    ):
        limit = int(meta[azure_policy.META_MAX_FAILURES])
        enforce.stop_for_failures(backend.batch, job_id, limit)
        status = replace(status, state="stopped")
    if (
        status.state == "active"
        and status.aggregate is not None
        and status.failed
        and not status.aggregate_may_run
        and monitor.aggregate_blocked(backend.batch, job_id)
    ):
        monitor.end_blocked_job(backend.batch, job_id)
        status = replace(status, state="terminating")
    if status.state == "active" and status.done and not status.failed:
        status = end_if_finished(backend, status)
    # Jobs from before pools carry no pool name: they ran on the one pool, "default".
    pool = meta.get(META_POOL, DEFAULT_POOL)
    status = replace(status, pool=pool)
    if status.state == "active" and status.counts.queued:
        # waiting, for nodes? the problem that stops them if there is one (azure/pool.py),
        # else when nodes were requested and how long they take (azure/rearm.py)
        state = PoolWatch(backend.batch, backend._pool_id(meta)).poll()
        nodes = state.line() if state is not None and state.problem else None
        if nodes is None and pool in backend.outputs.pools:
            nodes = rearm.nodes_note(backend.batch, backend.outputs.pool(pool).id)
        status = replace(status, nodes=nodes, pool_state=state)
    return status


def lead_once(backend: AzureBatchBackend, job_id: str, meta: dict[str, str]) -> None:
    """One poll of the monitor when nobody leads the job (its watcher is gone): a retry
    due, a deferred aggregate or the job's end are not left waiting for the next `wait`."""
    from superbatch.azure.watcher import JobLock

    lock = JobLock(backend._watch_dir(job_id))
    if backend._job_state(job_id) != "active" or not lock.acquire():
        return
    try:
        regular = monitor.job_task_counts(
            backend.batch, job_id, has_aggregate=meta.get(META_AGGREGATE) == "1"
        )
        _, raw = monitor.task_counts(backend.batch, job_id)
        enforce.Enforcer(backend.batch, backend.inputs, job_id, meta).poll(raw, regular.failed)
    finally:
        lock.release()


def end_if_finished(backend: AzureBatchBackend, status: JobStatus) -> JobStatus:
    """Every task complete and the job still active: end it, if every task was added
    (``unfinished_task_ids`` confirms what the lagging counts say)."""
    job_id = status.job_id
    if monitor.unfinished_task_ids(backend.batch, job_id):
        return status
    if not ending.end_finished_job(backend.batch, job_id):
        return status
    return replace(status, state=backend._job_state(job_id))
