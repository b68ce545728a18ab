"""The runner's one enum reader, fed every enum value the runner reads, as Batch writes it.

Casing as the recordings of the real service show it (tests/conformance/recordings/):
add results ``Success`` (.NET AddTaskCollection, 2025-06-01), failure categories
``UserError``; states, results and job options lower-case. Casings no recording shows are
fed in both forms: the runner must be right under either.
"""

from __future__ import annotations

import pytest

from superbatch.azure.monitor import task_status
from superbatch.azure.wire import wire_enum
from superbatch.model import TaskState

# (what Batch sends, what the runner compares with)
BATCH_VALUES = [
    ("Success", "success"),  # addtaskcollection result status
    ("ClientError", "clienterror"),
    ("ServerError", "servererror"),
    ("clienterror", "clienterror"),
    ("servererror", "servererror"),
    ("active", "active"),  # task and job state
    ("preparing", "preparing"),
    ("running", "running"),
    ("completed", "completed"),
    ("terminating", "terminating"),
    ("deleting", "deleting"),
    ("disabled", "disabled"),
    ("success", "success"),  # executionInfo.result
    ("failure", "failure"),
    ("Success", "success"),
    ("Failure", "failure"),
    ("UserError", "usererror"),  # failureInfo.category
    ("ServerError", "servererror"),
    ("noaction", "noaction"),  # onAllTasksComplete
    ("terminatejob", "terminatejob"),
    ("steady", "steady"),  # pool allocationState
    ("resizing", "resizing"),
    ("stopping", "stopping"),
]


@pytest.mark.parametrize(("sent", "read"), BATCH_VALUES)
def test_wire_enum_reads_batch_casing(sent: str, read: str) -> None:
    assert wire_enum(sent) == read


def test_wire_enum_reads_sdk_members_and_nothing() -> None:
    from azure.batch import models

    assert wire_enum(models.BatchTaskAddStatus.SUCCESS) == "success"
    assert wire_enum(models.BatchTaskState.COMPLETED) == "completed"
    assert wire_enum(None) == ""


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("completed", "success", TaskState.SUCCEEDED),
        ("Completed", "Success", TaskState.SUCCEEDED),
        ("completed", "Failure", TaskState.FAILED),
        ("Running", None, TaskState.RUNNING),
        ("Preparing", None, TaskState.RUNNING),
        ("Active", None, TaskState.QUEUED),
    ],
)
def test_task_status_whatever_the_casing(
    state: str, result: str | None, expected: TaskState
) -> None:
    from azure.batch import models

    info = {"retryCount": 0, "requeueCount": 0, "exitCode": 0 if result == "Success" else 1}
    if result is not None:
        info["result"] = result
    task = models.BatchTask({"id": "t", "state": state, "executionInfo": info})
    assert task_status(task, None).state is expected
