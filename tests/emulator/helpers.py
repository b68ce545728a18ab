"""Small helpers shared by the emulator's tests (SDK model builders, waits, typed reads)."""

from __future__ import annotations

import time
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.emulator.server import BatchEmulator

# Seconds between a long-running operation's polls. The SDK types the argument as int but
# sleeps for any number; a whole second would only slow the tests down.
POLL_SECONDS: Any = 0.05


def new_job(
    emulator: BatchEmulator, client: BatchClient, job_id: str = "job-1", **options: Any
) -> str:
    client.create_job(
        m.BatchJobCreateOptions(
            id=job_id, pool_info=m.BatchPoolInfo(pool_id=emulator.pool_id), **options
        )
    )
    return job_id


def wait_for_tasks(
    client: BatchClient, job_id: str, count: int | None = None, timeout: float = 60
) -> list[m.BatchTask]:
    """Poll list_tasks until every task is completed (and there are ``count`` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = list(client.list_tasks(job_id))
        done = all(t.state == m.BatchTaskState.COMPLETED for t in tasks)
        if done and (count is None or len(tasks) == count):
            return tasks
        if time.monotonic() > deadline:
            states = {t.id: t.state for t in tasks}
            raise AssertionError(f"tasks not completed after {timeout}s: {states}")
        time.sleep(0.05)


def wait_for_job_state(
    client: BatchClient, job_id: str, state: str, timeout: float = 30
) -> m.BatchJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_job(job_id)
        if job.state == state:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job.state}, not {state}, after {timeout}s")
        time.sleep(0.05)


def wait_until_running(emulator: BatchEmulator, job_id: str = "job-1", timeout: float = 30) -> None:
    """Wait (reading the emulator's own state) until every task of ``job_id`` is running."""
    deadline = time.monotonic() + timeout
    while True:
        states = {t["id"]: t["state"] for t in emulator.tasks(job_id)}
        if states and set(states.values()) == {"running"}:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks not all running after {timeout}s: {states}")
        time.sleep(0.01)


def error_code(error: HttpResponseError) -> str | None:
    """The Batch error code of a refused request; the answer must carry an OData error."""
    assert error.error is not None, f"no OData error in the answer: {error}"
    return error.error.code


def executed(task: m.BatchTask) -> m.BatchTaskExecutionInfo:
    """The task's execution info, which every started task must have."""
    assert task.execution_info is not None, f"task {task.id} has no executionInfo"
    return task.execution_info


def failure_code(task: m.BatchTask) -> str | None:
    """The code of the task's failure; the task must have failed."""
    failure = executed(task).failure_info
    assert failure is not None, f"task {task.id} has no failureInfo: {task.execution_info}"
    return failure.code


def run_one_task(
    emulator: BatchEmulator,
    client: BatchClient,
    task: m.BatchTaskCreateOptions,
    timeout: float = 60,
    **job_options: Any,
) -> m.BatchTask:
    """Create ``job-1`` (with ``job_options``), add ``task`` and wait until it completes."""
    new_job(emulator, client, **job_options)
    client.create_task("job-1", task)
    [completed] = wait_for_tasks(client, "job-1", 1, timeout=timeout)
    return completed


def start_slow_task(emulator: BatchEmulator, client: BatchClient) -> None:
    """Create ``job-1`` with one task ``slow`` (``sleep 30``) and wait until it runs."""
    new_job(emulator, client)
    client.create_task("job-1", m.BatchTaskCreateOptions(id="slow", command_line="sleep 30"))
    wait_until_running(emulator, "job-1")
