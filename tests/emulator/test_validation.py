"""One test per validation rule: the real SDK call fails with Batch's code and status."""

from __future__ import annotations

from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.azure.wire import wire_enum
from tests.emulator.helpers import error_code, new_job, start_slow_task
from tests.emulator.server import BatchEmulator

CONTAINER = "http://127.0.0.1:1/devstoreaccount1/inputs"


def _values(error: HttpResponseError) -> dict[str, str]:
    assert error.error is not None, f"no OData error in the answer: {error}"
    return {str(d.code): str(d.message) for d in error.error.details}


def _task_error(emulator: BatchEmulator, **fields: Any) -> HttpResponseError:
    client = emulator.client()
    new_job(emulator, client, uses_task_dependencies=False)
    emulator.hold = True
    options = {"id": "t1", "command_line": "true", **fields}
    with pytest.raises(HttpResponseError) as caught:
        client.create_task("job-1", m.BatchTaskCreateOptions(**options))
    assert caught.value.status_code == 400
    return caught.value


def test_missing_required_task_property(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    with pytest.raises(HttpResponseError) as caught:
        client.create_task("job-1", m.BatchTaskCreateOptions(id="no-command"))  # type: ignore[call-overload]
    assert caught.value.status_code == 400
    assert error_code(caught.value) == "MissingRequiredProperty"
    assert _values(caught.value)["PropertyName"] == "commandLine"


def test_missing_required_job_property(batch_emulator: BatchEmulator) -> None:
    with pytest.raises(HttpResponseError) as caught:
        batch_emulator.client().create_job(m.BatchJobCreateOptions(id="no-pool"))  # type: ignore[call-overload]
    assert error_code(caught.value) == "MissingRequiredProperty"
    assert _values(caught.value)["PropertyName"] == "poolInfo"


def test_missing_nested_required_property(batch_emulator: BatchEmulator) -> None:
    # No upload_options: required in the SDK's model, so its types refuse the call too.
    output = m.OutputFile(  # type: ignore[call-overload]
        file_pattern="out/*",
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=CONTAINER)
        ),
    )
    error = _task_error(batch_emulator, output_files=[output])
    assert error_code(error) == "MissingRequiredProperty"
    assert _values(error)["PropertyName"] == "outputFiles.uploadOptions"


def test_bad_enum_value(batch_emulator: BatchEmulator) -> None:
    output = m.OutputFile(
        file_pattern="out/*",
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=CONTAINER)
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition="sometimes"),
    )
    error = _task_error(batch_emulator, output_files=[output])
    assert error_code(error) == "InvalidPropertyValue"


@pytest.mark.parametrize("bad_id", ["has space", "dot.ted", "x" * 65, ""])
def test_bad_job_id(batch_emulator: BatchEmulator, bad_id: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        new_job(batch_emulator, batch_emulator.client(), bad_id)
    assert caught.value.status_code == 400
    assert error_code(caught.value) in ("InvalidPropertyValue", "MissingRequiredProperty")


def test_bad_task_id(batch_emulator: BatchEmulator) -> None:
    error = _task_error(batch_emulator, id="a/b")
    assert error_code(error) == "InvalidPropertyValue"
    assert _values(error)["PropertyName"] == "id"


def test_sixty_four_character_ids_are_fine(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client, "j" * 64)
    batch_emulator.hold = True
    client.create_task("j" * 64, m.BatchTaskCreateOptions(id="T-_9" * 16, command_line="true"))


@pytest.mark.parametrize(
    "resource",
    [
        m.ResourceFile(storage_container_url=CONTAINER, http_url=CONTAINER + "/a", file_path="a"),
        m.ResourceFile(file_path="nothing"),
        m.ResourceFile(http_url=CONTAINER + "/a", blob_prefix="x/", file_path="a"),
    ],
    ids=["two-sources", "no-source", "prefix-with-http-url"],
)
def test_resource_file_sources(batch_emulator: BatchEmulator, resource: m.ResourceFile) -> None:
    error = _task_error(batch_emulator, resource_files=[resource])
    assert error_code(error) == "InvalidPropertyValue"


def test_http_url_needs_file_path(batch_emulator: BatchEmulator) -> None:
    error = _task_error(batch_emulator, resource_files=[m.ResourceFile(http_url=CONTAINER + "/a")])
    assert error_code(error) == "MissingRequiredProperty"


def test_output_destination_must_be_a_container_url(batch_emulator: BatchEmulator) -> None:
    output = m.OutputFile(
        file_pattern="x",
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url="not-a-url")
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
    )
    error = _task_error(batch_emulator, output_files=[output])
    assert error_code(error) == "InvalidPropertyValue"


def test_dependencies_need_the_job_flag(batch_emulator: BatchEmulator) -> None:
    error = _task_error(batch_emulator, depends_on=m.BatchTaskDependencies(task_ids=["a"]))
    assert error_code(error) == "TaskDependenciesNotSpecifiedOnJob"


def test_unknown_pool(batch_emulator: BatchEmulator) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        batch_emulator.client().create_job(
            m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="other"))
        )
    assert error_code(caught.value) == "PoolNotFound"


def test_unknown_job_for_tasks(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    with pytest.raises(ResourceNotFoundError) as single:
        client.create_task("ghost", m.BatchTaskCreateOptions(id="t", command_line="true"))
    assert error_code(single.value) == "JobNotFound"
    with pytest.raises(ResourceNotFoundError) as collection:
        client.create_task_collection(
            "ghost",
            m.BatchTaskGroup(task_values=[m.BatchTaskCreateOptions(id="t", command_line="true")]),
        )
    assert error_code(collection.value) == "JobNotFound"


def test_job_being_deleted_refuses_tasks(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    start_slow_task(batch_emulator, client)
    batch_emulator.account.delete_job("job-1")  # keep it in "deleting" while we add
    with pytest.raises(HttpResponseError) as caught:
        client.create_task("job-1", m.BatchTaskCreateOptions(id="t", command_line="true"))
    assert caught.value.status_code in (404, 409)


@pytest.mark.parametrize(
    ("count", "command_line"),
    [(101, "true"), (40, "echo " + "x" * 30_000)],
    ids=["more-than-100-tasks", "a-megabyte"],
)
def test_collection_too_large_is_refused(
    batch_emulator: BatchEmulator, count: int, command_line: str
) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    tasks = [m.BatchTaskCreateOptions(id=str(i), command_line=command_line) for i in range(count)]
    with pytest.raises(HttpResponseError) as caught:
        client.create_task_collection("job-1", m.BatchTaskGroup(task_values=tasks))
    assert caught.value.status_code == 413
    assert error_code(caught.value) == "RequestBodyTooLarge"


def test_create_tasks_halves_chunks_that_are_too_large(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    tasks = [
        m.BatchTaskCreateOptions(id=str(i), command_line="echo " + "x" * 15_000) for i in range(100)
    ]
    result = client.create_tasks("job-1", tasks)
    assert len(result.result_values or []) == 100
    assert len(batch_emulator.tasks("job-1")) == 100


def test_collection_reports_each_bad_task(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    client.create_task("job-1", m.BatchTaskCreateOptions(id="taken", command_line="true"))
    result = client.create_task_collection(
        "job-1",
        m.BatchTaskGroup(
            task_values=[
                m.BatchTaskCreateOptions(id="ok", command_line="true"),
                m.BatchTaskCreateOptions(id="TAKEN", command_line="true"),
                m.BatchTaskCreateOptions(id="bad id", command_line="true"),
            ]
        ),
    )
    by_id = {r.task_id: r for r in result.result_values or []}
    # Batch writes "Success"/"ClientError": the SDK keeps them as plain strings
    assert wire_enum(by_id["ok"].status) == m.BatchTaskAddStatus.SUCCESS
    assert wire_enum(by_id["TAKEN"].status) == m.BatchTaskAddStatus.CLIENT_ERROR
    taken, bad_id = by_id["TAKEN"].error, by_id["bad id"].error
    assert taken is not None and taken.code == "TaskExists"
    assert bad_id is not None and bad_id.code == "InvalidPropertyValue"


def test_bad_filter_and_maxresults(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    with pytest.raises(HttpResponseError) as bad_filter:
        list(client.list_tasks("job-1", filter="length(id) eq 3"))
    assert error_code(bad_filter.value) == "InvalidQueryParameterValue"
    with pytest.raises(HttpResponseError) as bad_max:
        list(client.list_tasks("job-1", max_results=5000))
    assert error_code(bad_max.value) == "OutOfRangeQueryParameterValue"


def test_bad_shared_key_is_refused(batch_emulator: BatchEmulator) -> None:
    wrong_key = AzureNamedKeyCredential(batch_emulator.account_name, "d3Jvbmcga2V5IGZvciB0ZXN0cw==")
    client = BatchClient(batch_emulator.url, wrong_key)
    with pytest.raises(HttpResponseError) as caught:
        client.get_job("job-1")
    assert caught.value.status_code == 403
    assert error_code(caught.value) == "AuthenticationFailed"
    wrong_account = AzureNamedKeyCredential("other", batch_emulator.account_key)
    with pytest.raises(HttpResponseError) as other:
        BatchClient(batch_emulator.url, wrong_account).get_job("job-1")
    assert other.value.status_code == 403
