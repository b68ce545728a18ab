"""Why a Batch job ended early: the reasons SuperBatch terminates with (through
:func:`superbatch.azure.ending.end_job`) and the state ``status`` shows for each.

``cancel`` terminates with :data:`CANCEL_REASON` (running tasks are killed, tasks not
started never run, everything finished stays in storage); the monitor terminates a job
whose aggregate step can never run, or that failed more tasks than ``max_failures``
allows. ``status`` shows the reason's state (``cancelled``, ``stopped``) instead of
Batch's plain ``completed``.
"""

from __future__ import annotations

from typing import Any

from superbatch.azure.wire import wire_enum

CANCEL_REASON = "SuperBatchCancelled: cancelled by `superbatch cancel`"
STOP_PREFIX = "SuperBatchStopped"  # max_failures
# terminateReason prefix -> the state `status` shows for a job ended that way
_STATES = {"SuperBatchCancelled": "cancelled", STOP_PREFIX: "stopped"}


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
