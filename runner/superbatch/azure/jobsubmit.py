"""The Azure backend's ``submit``: stage the inputs, create the job, add its tasks and the
aggregate step (or store it for the monitor), then let the job end and re-arm the pool.
Every step is idempotent: re-running the same spec adds only what is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superbatch.azure import enforce, jobcreate, rearm, staging, submit, tasks
from superbatch.azure import policy as azure_policy
from superbatch.azure.errors import call_with_retries
from superbatch.model import AGGREGATE_TASK_ID, ProgressCallback, ResolvedJob, TaskCounts

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend


def submit_job(
    backend: AzureBatchBackend, job: ResolvedJob, *, progress: ProgressCallback | None = None
) -> None:
    pool, pinned = backend._check_before_submit(job)
    backend.last_staging = staging.stage_inputs(
        backend.inputs, job, concurrency=backend._staging_concurrency
    )
    created, state = jobcreate.ensure_job(backend.batch, job, pool.id)
    if state in {"completed", "terminating", "deleting"}:
        return  # every task was added before it could end: nothing left to submit
    present = set() if created else submit.existing_task_ids(backend.batch, job.job_id)
    by_id = {task.id: task for task in job.tasks}
    submitter = submit.TaskSubmitter(
        backend.batch,
        job.job_id,
        concurrency=backend._submit_concurrency,
        on_added=_progress_adder(progress, len(job.tasks), len(present)),
    )

    def body_for(task_id: str) -> bytes:
        if task_id == AGGREGATE_TASK_ID:
            return tasks.serialized(tasks.aggregate_body(pinned, backend.outputs))
        return tasks.serialized(tasks.task_body(pinned, by_id[task_id], backend.outputs))

    regular = set(by_id)
    submitter.submit(
        tasks.serialized_bodies(pinned, backend.outputs, skip=present, aggregate=False),
        expected=regular,
        body_for=body_for,
    )
    deferred = azure_policy.deferred_aggregate(job)
    if deferred and AGGREGATE_TASK_ID not in present:  # the monitor adds it later
        blob = enforce.aggregate_blob(job.job_id)
        data = body_for(AGGREGATE_TASK_ID)
        call_with_retries(
            lambda: backend.inputs.upload_blob(blob, data, overwrite=True),
            action=f"store the aggregate step of {job.job_id}",
            service="storage",
        )
    # The aggregate depends on every task: add it once they all exist.
    elif job.aggregate is not None and AGGREGATE_TASK_ID not in present:
        submitter.submit(
            [(AGGREGATE_TASK_ID, body_for(AGGREGATE_TASK_ID))],
            expected=regular | {AGGREGATE_TASK_ID},
            body_for=body_for,
        )
    backend.last_submit = submitter.report
    if not azure_policy.watched(job):  # else the monitor ends it (azure/enforce.py)
        jobcreate.finish_when_done(backend.batch, job.job_id)
    if submitter.report.added and backend._cold_start_clock is not None:
        # Nodes asked for as soon as the formula can see these tasks (azure/rearm.py).
        backend.cold_start = rearm.Watch(backend.batch, pool.id, clock=backend._cold_start_clock)


def _progress_adder(progress: ProgressCallback | None, total: int, present: int) -> Any:
    if progress is None:
        return None
    added = present

    def on_added(count: int) -> None:
        nonlocal added
        added += count
        progress(TaskCounts(queued=min(added, total)))

    return on_added
