"""Small helpers shared by the emulator's tests (SDK model builders and waits)."""

from __future__ import annotations

import time
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m

from tests.emulator.server import BatchEmulator


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
