"""Ending a Batch job early, with a reason that says who ended it and why.

``cancel`` terminates with :data:`CANCEL_REASON` (running tasks are killed, tasks not
started never run, everything finished stays in storage); the monitor terminates a job
whose aggregate step can never run, or that failed more tasks than ``max_failures``
allows. ``status`` shows the reason's state (``cancelled``, ``stopped``) instead of
Batch's plain ``completed``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from superbatch.azure.errors import call_with_retries
from superbatch.azure.wire import wire_enum

if TYPE_CHECKING:
    from azure.batch import BatchClient

CANCEL_REASON = "SuperBatchCancelled: cancelled by `superbatch cancel`"
STOP_PREFIX = "SuperBatchStopped"  # max_failures
# terminateReason prefix -> the state `status` shows for a job ended that way
_STATES = {"SuperBatchCancelled": "cancelled", STOP_PREFIX: "stopped"}


def terminate(client: BatchClient, job_id: str, reason: str, *, action: str, wait: bool) -> None:
    """Terminate ``job_id`` saying ``reason``; a job already ending or ended is left as it
    is. ``wait``: return only once Batch has stopped its running tasks."""
    # Not re-exported by azure.batch.models in 15.1.0; the options must be given (a bare
    # begin_terminate_job raises ValueError).
    from azure.batch.models._models import BatchJobTerminateOptions
    from azure.core.exceptions import ResourceExistsError

    options = BatchJobTerminateOptions(termination_reason=reason)

    def run() -> None:
        # 409: completed, terminating or being deleted already
        with contextlib.suppress(ResourceExistsError):
            poller = client.begin_terminate_job(job_id, options, polling_interval=1)
            if wait:
                poller.result()

    call_with_retries(run, action=action)


def job_state(job: Any) -> str:
    """The state ``status`` shows: Batch's, or what ended it (``cancelled``)."""
    state = wire_enum(job.state)
    info = getattr(job, "execution_info", None)
    reason = getattr(info, "termination_reason", None) or ""
    if state in ("completed", "terminating"):
        named = _STATES.get(reason.split(":", 1)[0])
        if named is not None:
            return named
    return state
