"""Exact wire shapes and the remaining calls: raw answers, task terminate/delete, files, pools."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.batch import models as m
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest

from tests.emulator.helpers import (
    POLL_SECONDS,
    error_code,
    failure_code,
    new_job,
    run_one_task,
    wait_for_tasks,
    wait_until_running,
)
from tests.emulator.schema import check_body
from tests.emulator.server import BatchEmulator
from tests.support.tokens import FakeTokenCredential

API = {"api-version": "2025-06-01"}


def test_create_job_answers_201_with_an_empty_body(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    body = {"id": "raw", "poolInfo": {"poolId": batch_emulator.pool_id}}
    answer = client.send_request(
        HttpRequest("POST", f"{batch_emulator.url}/jobs", params=API, json=body)
    )
    assert answer.status_code == 201
    assert answer.content == b""
    assert answer.headers["Location"] == f"{batch_emulator.url}/jobs/raw"
    assert answer.headers["ETag"]


def _raw_error(client: Any, request: HttpRequest) -> Any:
    with pytest.raises(HttpResponseError) as caught:  # the SDK pipeline raises on non-2xx
        client.send_request(request)
    return caught.value.response


def test_error_envelope(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    url = f"{batch_emulator.url}/jobs"
    answer = _raw_error(client, HttpRequest("POST", url, params=API, json={"id": "x"}))
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"odata.metadata", "code", "message", "values"}
    assert body["code"] == "MissingRequiredProperty"
    assert body["message"]["lang"] == "en-US"
    assert body["values"] == [{"key": "PropertyName", "value": "poolInfo"}]
    missing_version = _raw_error(client, HttpRequest("GET", url))
    assert missing_version.json()["code"] == "MissingRequiredQueryParameter"
    wrong_verb = _raw_error(client, HttpRequest("PUT", f"{url}/x/taskcounts", params=API))
    assert wrong_verb.status_code == 405


def test_add_collection_result_shape(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    answer = client.send_request(
        HttpRequest(
            "POST",
            f"{batch_emulator.url}/jobs/job-1/addtaskcollection",
            params=API,
            content=json.dumps({"value": [{"id": "a", "commandLine": "true"}]}),
            headers={"Content-Type": "application/json; odata=minimalmetadata"},
        )
    )
    assert answer.status_code == 200
    [result] = answer.json()["value"]
    assert (result["status"], result["taskId"]) == ("Success", "a")  # Batch's casing


def test_terminate_and_delete_task(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(id="running", command_line="sleep 30"),
            m.BatchTaskCreateOptions(id="gone", command_line="sleep 30"),
        ],
    )
    wait_until_running(batch_emulator)
    client.terminate_task("job-1", "running")
    client.delete_task("job-1", "gone")
    [task] = wait_for_tasks(client, "job-1", 1)
    assert task.id == "running"
    assert failure_code(task) == "TaskEnded"
    with pytest.raises(ResourceExistsError) as again:
        client.terminate_task("job-1", "running")
    assert error_code(again.value) == "TaskCompleted"
    with pytest.raises(ResourceNotFoundError):
        client.get_task("job-1", "gone")
    batch_emulator.wait_idle()


def test_list_jobs_with_filter_and_update_job(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client, "a")
    new_job(batch_emulator, client, "b", metadata=[m.BatchMetadataItem(name="k", value="v")])
    client.update_job("a", m.BatchJobUpdateOptions(priority=5))
    assert client.get_job("a").priority == 5
    metadata = client.get_job("b").metadata
    assert metadata is not None and metadata[0].value == "v"
    client.begin_terminate_job("b", _terminate_options(), polling_interval=POLL_SECONDS).result()
    active = [j.id for j in client.list_jobs(filter="state eq 'active'")]
    assert active == ["a"]
    assert sorted(j.id for j in client.list_jobs(max_results=1)) == ["a", "b"]


def _terminate_options() -> Any:
    from azure.batch.models._models import BatchJobTerminateOptions  # not exported in 15.1.0

    return BatchJobTerminateOptions(termination_reason="x")


def test_task_file_properties_and_pool(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    run_one_task(batch_emulator, client, m.BatchTaskCreateOptions(id="t", command_line="echo hi"))
    properties = client.get_task_file_properties("job-1", "t", "stdout.txt")
    assert properties.content_length == 3
    with pytest.raises(ResourceNotFoundError):  # streamed: the SDK does not read the body
        list(client.download_task_file("job-1", "t", "wd/nothing.txt"))
    pool = client.get_pool(batch_emulator.pool_id)
    assert pool.task_slots_per_node == batch_emulator.slots
    assert pool.identity is not None
    [identity] = pool.identity.user_assigned_identities or []
    assert identity.resource_id == batch_emulator.identity_resource_id


def test_https_with_shared_key_and_reset(batch_emulator_https: BatchEmulator) -> None:
    client = batch_emulator_https.client()
    new_job(batch_emulator_https, client)
    assert batch_emulator_https.principals["sharedkey"] == 1
    batch_emulator_https.faults.add("get_job", "503")
    batch_emulator_https.reset()
    with pytest.raises(ResourceNotFoundError):
        client.get_job("job-1")  # forgotten, and the fault is gone
    assert batch_emulator_https.requests == {"get_job": 1}


def test_answers_carry_every_field_the_sdk_models_require(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(id="ok", command_line="true"),
            m.BatchTaskCreateOptions(id="bad", command_line="false"),
            m.BatchTaskCreateOptions(id="missing", command_line="no-such-program"),
            m.BatchTaskCreateOptions(id="slow", command_line="sleep 30"),
        ],
    )
    while len({t["state"] for t in batch_emulator.tasks("job-1")}) < 2:
        pass  # some completed, "slow" still running
    for wire in batch_emulator.tasks("job-1"):
        check_body(m.BatchTask, wire)
    check_body(m.BatchJob, batch_emulator.job("job-1"))
    counts = client.send_request(
        HttpRequest("GET", f"{batch_emulator.url}/jobs/job-1/taskcounts", params=API)
    )
    check_body(m.BatchTaskCountsResult, counts.json())
    pool = client.send_request(
        HttpRequest("GET", f"{batch_emulator.url}/pools/{batch_emulator.pool_id}", params=API)
    )
    check_body(m.BatchPool, pool.json())
    client.terminate_task("job-1", "slow")


def test_bearer_token_for_another_audience_is_refused(
    batch_emulator_https: BatchEmulator,
) -> None:
    class StorageTokens(FakeTokenCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return super().get_token("https://storage.azure.com/.default")

    with pytest.raises(ClientAuthenticationError) as caught:
        batch_emulator_https.client(StorageTokens()).get_job("job-1")
    assert caught.value.status_code == 401
