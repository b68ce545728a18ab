"""Jobs and tasks through the real azure-batch SDK: wire shapes, states, LROs, counts."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions  # not exported in 15.1.0
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from tests.emulator.helpers import (
    POLL_SECONDS,
    error_code,
    executed,
    failure_code,
    new_job,
    start_slow_task,
    wait_for_job_state,
    wait_for_tasks,
)
from tests.emulator.server import BatchEmulator
from tests.support.tokens import FakeTokenCredential


def test_job_and_task_round_trip(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client, "Job_A")
    job = client.get_job("job_a")  # ids are case-insensitive, case-preserving
    assert job.id == "Job_A"
    assert job.state == m.BatchJobState.ACTIVE
    assert job.pool_info.pool_id == batch_emulator.pool_id
    client.create_task("Job_A", m.BatchTaskCreateOptions(id="t1", command_line="echo hello"))
    [task] = wait_for_tasks(client, "Job_A", 1)
    assert executed(task).exit_code == 0
    assert executed(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert b"".join(client.download_task_file("Job_A", "t1", "stdout.txt")) == b"hello\n"
    counts = client.get_job_task_counts("Job_A")
    assert (counts.task_counts.completed, counts.task_counts.succeeded) == (1, 1)
    assert counts.task_slot_counts.completed == 1


def test_duplicate_ids_conflict_case_insensitively(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client, "dup")
    with pytest.raises(ResourceExistsError) as job_error:
        new_job(batch_emulator, client, "DUP")
    assert error_code(job_error.value) == "JobExists"
    batch_emulator.hold = True
    client.create_task("dup", m.BatchTaskCreateOptions(id="T", command_line="true"))
    with pytest.raises(ResourceExistsError) as task_error:
        client.create_task("dup", m.BatchTaskCreateOptions(id="t", command_line="true"))
    assert error_code(task_error.value) == "TaskExists"


def test_unknown_job_and_task_are_not_found(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    with pytest.raises(ResourceNotFoundError) as job_error:
        client.get_job("nope")
    assert error_code(job_error.value) == "JobNotFound"
    new_job(batch_emulator, client)
    with pytest.raises(ResourceNotFoundError) as task_error:
        client.get_task("job-1", "nope")
    assert error_code(task_error.value) == "TaskNotFound"


def test_delete_job_poller_sees_deleting_then_gone(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    start_slow_task(batch_emulator, client)
    poller = client.begin_delete_job("job-1", polling_interval=POLL_SECONDS)
    poller.result()
    assert poller.status() == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        client.get_job("job-1")


def test_terminate_job_ends_running_tasks(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    start_slow_task(batch_emulator, client)
    poller = client.begin_terminate_job(
        "job-1", BatchJobTerminateOptions(termination_reason="stop"), polling_interval=POLL_SECONDS
    )
    poller.result()
    assert poller.status() == "Succeeded"
    job = client.get_job("job-1")
    assert job.state == m.BatchJobState.COMPLETED
    assert job.execution_info is not None
    assert job.execution_info.termination_reason == "stop"
    task = client.get_task("job-1", "slow")
    assert task.state == m.BatchTaskState.COMPLETED
    assert failure_code(task) == "TaskEnded"


def test_terminatejob_when_all_tasks_complete(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(
        batch_emulator,
        client,
        all_tasks_complete_mode=m.BatchAllTasksCompleteMode.NO_ACTION,
    )
    client.create_tasks(
        "job-1", [m.BatchTaskCreateOptions(id=str(i), command_line="true") for i in range(3)]
    )
    client.update_job(
        "job-1",
        m.BatchJobUpdateOptions(all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB),
    )
    job = wait_for_job_state(client, "job-1", m.BatchJobState.COMPLETED)
    assert job.execution_info is not None
    assert job.execution_info.termination_reason == "AllTasksCompleted"  # Go SDK TestJob
    assert client.get_job_task_counts("job-1").task_counts.succeeded == 3


def test_terminatejob_on_an_empty_job_terminates_at_once(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(
        batch_emulator,
        client,
        all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB,
    )
    wait_for_job_state(client, "job-1", m.BatchJobState.COMPLETED)
    with pytest.raises(ResourceExistsError) as error:
        client.create_task("job-1", m.BatchTaskCreateOptions(id="late", command_line="true"))
    assert error_code(error.value) == "JobCompleted"


def test_bearer_token_over_https(batch_emulator_https: BatchEmulator) -> None:
    credential = FakeTokenCredential()
    client = batch_emulator_https.client(credential)
    new_job(batch_emulator_https, client)
    assert client.get_job("job-1").state == m.BatchJobState.ACTIVE
    assert credential.scopes[0] == "https://batch.core.windows.net//.default"
    assert batch_emulator_https.principals["bearer"] == 2
    assert batch_emulator_https.url.startswith("https://")
