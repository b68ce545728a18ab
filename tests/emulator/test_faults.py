"""Injected faults reach the SDK as Azure sends them; paging; bulk submission under faults."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ServiceResponseError
from azure.core.rest import HttpRequest

from superbatch.azure.wire import wire_enum
from tests.emulator.helpers import error_code, new_job
from tests.emulator.server import BatchEmulator


def _tasks(count: int, prefix: str = "") -> list[m.BatchTaskCreateOptions]:
    return [m.BatchTaskCreateOptions(id=f"{prefix}{i}", command_line="true") for i in range(count)]


@pytest.mark.parametrize(("kind", "code"), [("429", "TooManyRequests"), ("503", "ServerBusy")])
def test_throttling_carries_retry_after(
    batch_emulator: BatchEmulator, kind: str, code: str
) -> None:
    client = batch_emulator.client(retry_total=0)
    new_job(batch_emulator, client)
    batch_emulator.faults.add("get_job", kind, times=1, retry_after=2)
    with pytest.raises(HttpResponseError) as caught:
        client.get_job("job-1")
    assert caught.value.status_code == int(kind)
    assert error_code(caught.value) == code
    assert caught.value.response is not None
    # azure-core types the response as a protocol without headers; every response has them.
    assert caught.value.response.headers["Retry-After"] == "2"  # type: ignore[attr-defined]


def test_a_refused_role_is_403_authorization_failure(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client(retry_total=0)
    batch_emulator.faults.add("get_pool", "403", times=1)
    with pytest.raises(HttpResponseError) as caught:
        client.get_pool(batch_emulator.pool_id)
    assert caught.value.status_code == 403
    assert error_code(caught.value) == "AuthorizationFailure"
    assert client.get_pool(batch_emulator.pool_id).id == batch_emulator.pool_id  # times=1


def test_throttled_post_is_retried_because_of_retry_after(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()  # default azure-core retry policy
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.add("create_task", "429", times=1, retry_after=1)
    client.create_task("job-1", m.BatchTaskCreateOptions(id="t", command_line="true"))
    assert batch_emulator.requests["create_task"] == 2
    assert batch_emulator.faults.injected["create_task:429"] == 1


def test_reset_before_processing_leaves_nothing(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.add("create_task", "reset_before", times=1)
    with pytest.raises(ServiceResponseError):  # azure-core does not retry a POST read error
        client.create_task("job-1", m.BatchTaskCreateOptions(id="t", command_line="true"))
    assert batch_emulator.tasks("job-1") == []


def test_reset_after_processing_created_the_task(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.add("create_task", "reset_after", times=1)
    task = m.BatchTaskCreateOptions(id="t", command_line="true")
    with pytest.raises(ServiceResponseError):
        client.create_task("job-1", task)
    assert [t["id"] for t in batch_emulator.tasks("job-1")] == ["t"]  # done, though unseen
    with pytest.raises(ResourceExistsError) as again:
        client.create_task("job-1", task)
    assert error_code(again.value) == "TaskExists"


def test_latency_is_added_and_counted(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.faults.add("*", "latency", latency=0.2, times=2)
    assert client.get_job("job-1").id == "job-1"
    assert client.get_job_task_counts("job-1").task_counts.active == 0
    assert batch_emulator.faults.injected == {
        "get_job:latency": 1,
        "get_job_task_counts:latency": 1,
    }


def test_paging_over_several_pages(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    client.create_tasks("job-1", _tasks(250))
    listed = list(client.list_tasks("job-1", max_results=100, select=["id", "state"]))
    assert sorted(t.id for t in listed) == sorted(str(i) for i in range(250))
    assert listed[0].command_line is None  # $select kept only id and state
    assert batch_emulator.requests["list_tasks"] == 3
    filtered = list(client.list_tasks("job-1", max_results=100, filter="state eq 'completed'"))
    assert filtered == []
    raw = client.send_request(
        HttpRequest(
            "GET",
            f"{batch_emulator.url}/jobs/job-1/tasks",
            params={
                "api-version": "2025-06-01",
                "maxresults": "100",
                "$filter": "state eq 'active'",
            },
        )
    )
    raw.raise_for_status()
    next_link = raw.json()["odata.nextLink"]
    assert next_link.startswith(f"{batch_emulator.url}/jobs/job-1/tasks?")
    assert "%24filter=state+eq+%27active%27" in next_link or "$filter" in next_link


def test_create_tasks_with_1000_tasks_under_503s(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.seed(7)
    batch_emulator.faults.add("create_task_collection", "503", rate=0.1, retry_after=1)
    result = client.create_tasks("job-1", _tasks(1000), max_concurrency=4)
    assert len(result.result_values or []) == 1000
    assert len(batch_emulator.tasks("job-1")) == 1000
    assert batch_emulator.faults.injected["create_task_collection:503"] >= 1
    assert batch_emulator.requests["create_task_collection"] > 10


def test_create_tasks_under_resets_after_processing_then_resubmit(
    batch_emulator: BatchEmulator,
) -> None:
    """A reset after the service added a chunk surfaces; re-adding counts TaskExists as done."""
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.add("create_task_collection", "reset_after", times=1)
    tasks = _tasks(1000)
    with pytest.raises(m.CreateTasksError):
        client.create_tasks("job-1", tasks)
    assert len(batch_emulator.tasks("job-1")) >= 100  # the reset chunk was still added
    result = client.create_tasks("job-1", tasks)  # idempotent re-add, as a runner would do
    statuses = {
        (wire_enum(r.status), r.error.code if r.error else None) for r in result.result_values or []
    }
    assert statuses == {("success", None), ("clienterror", "TaskExists")}, statuses
    assert len(batch_emulator.tasks("job-1")) == 1000


def test_after_lets_the_first_requests_through(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.faults.add("create_task", "reset_before", after=2)
    for n in (1, 2):
        client.create_task("job-1", m.BatchTaskCreateOptions(id=f"t{n}", command_line="true"))
    with pytest.raises(ServiceResponseError):  # every later one is reset before processing
        client.create_task("job-1", m.BatchTaskCreateOptions(id="t3", command_line="true"))
    assert sorted(t["id"] for t in batch_emulator.tasks("job-1")) == ["t1", "t2"]
