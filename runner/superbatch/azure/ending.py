"""Ending jobs explicitly, so none stays active (and counts against the quota) forever.

A job is created with ``onAllTasksComplete=noaction`` and switched to ``terminatejob`` once
every task is added. Whether Batch terminates a job whose tasks had all completed *before*
that switch is unverified (Azure-Samples/azure-batch-samples#319 reports jobs left
active), so whoever sees every task done while the job is still active ends it, with the
reason Batch itself gives (``AllTasksCompleted``). Either way Batch behaves, the job ends.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from superbatch.azure.errors import call_with_retries
from superbatch.azure.wire import wire_enum

if TYPE_CHECKING:
    from azure.batch import BatchClient

ALL_DONE_REASON = "AllTasksCompleted"  # as Batch writes it (Go SDK TestJob recording)


def end_job(client: BatchClient, job_id: str, reason: str, *, why: str, wait: bool = False) -> None:
    """Terminate ``job_id`` with ``reason``; a job already ending or gone is left as it is.
    ``wait``: return only once Batch has stopped the job's running tasks."""
    # Not re-exported by azure.batch.models in 15.1.0; the options must be given (a bare
    # begin_terminate_job raises ValueError).
    from azure.batch.models._models import BatchJobTerminateOptions
    from azure.core.exceptions import ResourceExistsError

    options = BatchJobTerminateOptions(termination_reason=reason)

    def terminate() -> None:
        # 409: completed, terminating or being deleted already
        with contextlib.suppress(ResourceExistsError):
            poller = client.begin_terminate_job(job_id, options, polling_interval=1)
            if wait:
                poller.result()

    call_with_retries(terminate, action=f"end job {job_id}, {why}", repeat=True)


def end_finished_job(client: BatchClient, job_id: str) -> bool:
    """End the job if every task was added (it was switched to ``terminatejob``) and it is
    still active once every task completed; True when it was ended here.

    Call it only once a listing confirmed that no task is unfinished (counts lag).
    """
    job = call_with_retries(
        lambda: client.get_job(job_id, select=["id", "state", "onAllTasksComplete"]),
        action=f"find job {job_id}",
    )
    if wire_enum(job.state) != "active":
        return False
    if wire_enum(job.all_tasks_complete_mode) != "terminatejob":
        return False  # tasks may still be added by the run that submits them
    end_job(client, job_id, ALL_DONE_REASON, why="whose tasks are all complete")
    return True
