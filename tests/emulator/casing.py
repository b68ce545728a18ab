"""Enum values as real Batch writes them on the wire, enum by enum.

Batch's casing is not uniform: the recordings of the real service (see the fidelity table in
README.md and ``tests/conformance/recordings/``) show add-collection results as ``Success``
and failure categories as ``UserError`` / ``ServerError``, while job, task and pool states,
task results and ``onAllTasksComplete`` stay lower-case. The emulator writes every enum from
here; its own logic compares the lower-case names.
"""

from __future__ import annotations

# BatchTaskAddStatus: "Success" in the .NET AddTaskCollection recording (2025-06-01).
# "ClientError" / "ServerError" follow the same casing (see the fidelity table for sources).
ADD_SUCCESS = "Success"
ADD_CLIENT_ERROR = "ClientError"
ADD_SERVER_ERROR = "ServerError"
# What the account writes, by lower-case name. No recording shows a failed add, so a test can
# switch to the SDK spec's lower-case values (``emulator.lowercase_add_results = True``): the
# runner must be right under both.
ADD_STATUS = {
    "success": ADD_SUCCESS,
    "clienterror": ADD_CLIENT_ERROR,
    "servererror": ADD_SERVER_ERROR,
}

# ErrorCategory of failureInfo / schedulingError.
USER_ERROR = "UserError"
SERVER_ERROR = "ServerError"
