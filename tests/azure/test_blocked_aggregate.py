"""A task that fails for good blocks the aggregate step (it depends on every task) forever.

Batch would keep such a job active, its blocked task possibly counted in the pool's
$PendingTasks (keeping a node up). Whoever looks first (status, wait or results) ends the
job, saying why; later looks leave it alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from superbatch.azure.monitor import BLOCKED_REASON
from superbatch.model import AGGREGATE_TASK_ID, AggregateSpec, ResolvedJob, TaskSpec, TaskState
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import TEST_IMAGE


def _job_state_becomes(stack: EmulatedStack, job_id: str, state: str) -> bool:
    for _ in range(600):  # the emulator settles a terminating job once nothing runs
        if stack.emulator.job(job_id)["state"] == state:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("observer", ["status", "wait", "results"])
def test_the_first_observer_ends_a_job_whose_aggregate_can_never_run(
    tmp_path: Path, stack: EmulatedStack, observer: str
) -> None:
    job = ResolvedJob(
        job_id=f"blocked-{observer}",
        name="blocked",
        image=TEST_IMAGE,
        tasks=(TaskSpec("0", "true"), TaskSpec("1", "echo broken >&2; exit 3")),
        outputs=(),
        aggregate=AggregateSpec("echo never > never.txt", ("never.txt",)),
    )
    backend = stack.backend()
    backend.submit(job)
    stack.emulator.wait_idle(timeout=120)
    # every task has finished, one failed: left alone, Batch keeps the job active forever
    assert stack.emulator.job(job.job_id)["state"] == "active"
    (aggregate,) = [t for t in stack.emulator.tasks(job.job_id) if t["id"] == AGGREGATE_TASK_ID]
    assert aggregate["state"] == "active"

    if observer == "status":
        backend.status(job.job_id)
    elif observer == "wait":
        backend.wait(job.job_id, timeout=120)
    else:
        backend.results(job.job_id, tmp_path / "results")

    wire = stack.emulator.job(job.job_id)
    assert wire["state"] in ("terminating", "completed")
    assert wire["executionInfo"]["terminateReason"] == BLOCKED_REASON
    assert _job_state_becomes(stack, job.job_id, "completed")

    # later looks see a finished, failed job and change nothing
    for _ in range(2):
        status = stack.backend().status(job.job_id)
        assert status.state == "completed" and status.done and not status.ok
        assert [t.task_id for t in status.failed] == ["1"]
        assert status.aggregate is not None and status.aggregate.state is TaskState.QUEUED
    results = stack.backend().results(job.job_id, tmp_path / "again")
    assert [r.state for r in results] == [TaskState.SUCCEEDED, TaskState.FAILED, TaskState.QUEUED]
    assert stack.emulator.job(job.job_id)["executionInfo"]["terminateReason"] == BLOCKED_REASON
    assert not (tmp_path / "again" / job.job_id / AGGREGATE_TASK_ID / "never.txt").exists()


def test_waiting_again_and_resubmitting_a_blocked_job_change_nothing(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    job = ResolvedJob(
        job_id="blocked-again",
        name="blocked",
        image=TEST_IMAGE,
        tasks=(TaskSpec("0", "true"), TaskSpec("1", "exit 3")),
        outputs=(),
        aggregate=AggregateSpec("echo never > never.txt", ("never.txt",)),
    )
    stack.backend().submit(job)
    first = stack.backend().wait(job.job_id, timeout=120)
    assert first.done and not first.ok
    assert _job_state_becomes(stack, job.job_id, "completed")
    for _ in range(2):  # a second wait and a re-run of `run` find the job finished
        again = stack.backend().wait(job.job_id, timeout=120)
        assert again.state == "completed" and [t.task_id for t in again.failed] == ["1"]
        stack.backend().submit(job)
    assert len(stack.emulator.tasks(job.job_id)) == 3
    assert stack.emulator.job(job.job_id)["executionInfo"]["terminateReason"] == BLOCKED_REASON
