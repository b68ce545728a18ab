"""Routes beyond submit-and-watch, through the SDK: job disable/enable, task reactivate and
update, task-file delete, job preparation/release status, 404 for what does not exist."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from tests.emulator.helpers import (
    POLL_SECONDS,
    error_code,
    executed,
    failure_code,
    new_job,
    run_one_task,
    start_slow_task,
    wait_for_tasks,
    wait_until_running,
)
from tests.emulator.server import BatchEmulator


def test_disable_requeues_running_tasks_and_enable_runs_them_again(
    batch_emulator: BatchEmulator,
) -> None:
    client = batch_emulator.client()
    start_slow_task(batch_emulator, client)

    poller = client.begin_disable_job(
        "job-1", m.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=POLL_SECONDS
    )
    poller.result()
    assert poller.status() == "Succeeded"
    assert client.get_job("job-1").state == "disabled"
    batch_emulator.wait_idle(10)
    [task] = batch_emulator.tasks("job-1")
    assert (task["state"], task["executionInfo"]["retryCount"]) == ("active", 0)

    client.begin_enable_job("job-1", polling_interval=POLL_SECONDS).result()
    assert client.get_job("job-1").state == "active"
    wait_until_running(batch_emulator, "job-1")


def test_disable_with_terminate_ends_running_tasks(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    start_slow_task(batch_emulator, client)
    client.begin_disable_job(
        "job-1", m.BatchJobDisableOptions(disable_tasks="terminate"), polling_interval=POLL_SECONDS
    ).result()
    [task] = wait_for_tasks(client, "job-1", 1)
    assert failure_code(task) == "TaskEnded"


def test_enable_of_an_active_job_conflicts(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    with pytest.raises(HttpResponseError) as refused:
        client.begin_enable_job("job-1", polling_interval=POLL_SECONDS).result()
    assert error_code(refused.value) == "OperationInvalidForCurrentState"


def test_reactivate_a_failed_task_runs_it_again_and_refuses_a_successful_one(
    batch_emulator: BatchEmulator,
) -> None:
    client = batch_emulator.client()
    failing = m.BatchTaskCreateOptions(id="f", command_line="false")
    failed = run_one_task(batch_emulator, client, failing)
    assert executed(failed).exit_code == 1

    client.reactivate_task("job-1", "f")
    [again] = wait_for_tasks(client, "job-1", 1)
    assert executed(again).exit_code == 1 and executed(again).retry_count == 0

    client.create_task("job-1", m.BatchTaskCreateOptions(id="ok", command_line="true"))
    wait_for_tasks(client, "job-1", 2)
    with pytest.raises(HttpResponseError) as refused:
        client.reactivate_task("job-1", "ok")
    assert (refused.value.status_code, error_code(refused.value)) == (409, "TaskSucceeded")


def test_replace_task_changes_its_constraints(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    client.create_task("job-1", m.BatchTaskCreateOptions(id="t", command_line="true"))
    client.replace_task(
        "job-1", "t", m.BatchTask(constraints=m.BatchTaskConstraints(max_task_retry_count=3))
    )
    constraints = client.get_task("job-1", "t").constraints
    assert constraints is not None and constraints.max_task_retry_count == 3


def test_delete_task_file(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    run_one_task(batch_emulator, client, m.BatchTaskCreateOptions(id="t", command_line="true"))
    names = {f.name for f in client.list_task_files("job-1", "t")}
    assert "stdout.txt" in names
    client.delete_task_file("job-1", "t", "stdout.txt")
    assert "stdout.txt" not in {f.name for f in client.list_task_files("job-1", "t")}
    with pytest.raises(ResourceNotFoundError):
        client.delete_task_file("job-1", "t", "stdout.txt")


def test_job_preparation_status_of_a_job_without_one(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    with pytest.raises(HttpResponseError) as refused:
        list(client.list_job_preparation_and_release_task_status("job-1"))
    assert error_code(refused.value) == "JobPreparationTaskOrReleaseTaskNotSpecified"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/jobs/nope/disable", "JobNotFound"),
        ("/jobs/job-1/tasks/nope/reactivate", "TaskNotFound"),
        ("/jobs/job-1/nothing-here", "ResourceNotFound"),
        ("/nothing", "ResourceNotFound"),
    ],
)
def test_unknown_resources_are_404(batch_emulator: BatchEmulator, path: str, code: str) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    with pytest.raises(ResourceNotFoundError) as missing:
        client.send_request(HttpRequest("POST", f"{batch_emulator.url}{path}", params=API))
    assert error_code(missing.value) == code


API = {"api-version": "2025-06-01"}
