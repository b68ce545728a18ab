"""The node's files: resource files from Azurite, output files to it, and their failures."""

from __future__ import annotations

import uuid

from azure.batch import models as m
from azure.storage.blob import BlobServiceClient, ContainerClient

from tests.emulator.helpers import executed, failure_code, new_job, run_one_task, wait_for_tasks
from tests.emulator.server import BatchEmulator
from tests.support.azurite import Azurite
from tests.support.tokens import FakeTokenCredential


def _container(azurite: Azurite, prefix: str) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.create_container(f"{prefix}-{uuid.uuid4().hex[:8]}")


def _output(
    container: ContainerClient, identity: str, pattern: str, path: str | None, condition: str
) -> m.OutputFile:
    return m.OutputFile(
        file_pattern=pattern,
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(
                container_url=container.url,
                path=path,
                identity_reference=m.BatchNodeIdentityReference(resource_id=identity),
            )
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition=condition),
    )


def test_inputs_in_outputs_out_with_each_upload_condition(
    batch_emulator: BatchEmulator, azurite: Azurite
) -> None:
    inputs, outputs = _container(azurite, "inputs"), _container(azurite, "outputs")
    inputs.upload_blob("job-1/tasks/ok/data.txt", b"alpha")
    inputs.upload_blob("job-1/tasks/bad/data.txt", b"beta")
    inputs.upload_blob("job-1/shared/model.bin", b"model")
    identity = batch_emulator.identity_resource_id
    reference = m.BatchNodeIdentityReference(resource_id=identity)

    def task(task_id: str, exit_code: int) -> m.BatchTaskCreateOptions:
        script = (
            f"mkdir -p out/sub && cat in/job-1/tasks/{task_id}/data.txt in/job-1/shared/model.bin"
            f" > out/sub/result.txt && echo hidden > out/.dot && echo log; exit {exit_code}"
        )
        return m.BatchTaskCreateOptions(
            id=task_id,
            command_line=f"/bin/sh -c '{script}'",
            resource_files=[
                m.ResourceFile(
                    storage_container_url=inputs.url,
                    blob_prefix=f"job-1/tasks/{task_id}/",
                    file_path="in",
                    identity_reference=reference,
                ),
                m.ResourceFile(
                    http_url=f"{inputs.url}/job-1/shared/model.bin",
                    file_path="in/job-1/shared/model.bin",
                    identity_reference=reference,
                ),
            ],
            output_files=[
                _output(outputs, identity, "out/**", f"job-1/{task_id}/success", "tasksuccess"),
                _output(outputs, identity, "out/**", f"job-1/{task_id}/failure", "taskfailure"),
                _output(
                    outputs, identity, "../std*.txt", f"job-1/{task_id}/_logs", "taskcompletion"
                ),
                _output(
                    outputs,
                    identity,
                    "out/sub/result.txt",
                    f"job-1/{task_id}/exact.txt",
                    "taskcompletion",
                ),
            ],
        )

    client = batch_emulator.client()
    new_job(batch_emulator, client)
    client.create_tasks("job-1", [task("ok", 0), task("bad", 3)])
    tasks = {t.id: t for t in wait_for_tasks(client, "job-1", 2)}
    assert executed(tasks["ok"]).result == m.BatchTaskExecutionResult.SUCCESS
    assert executed(tasks["bad"]).exit_code == 3
    assert failure_code(tasks["bad"]) == "FailureExitCode"
    names = sorted(b.name for b in outputs.list_blobs())
    assert names == [
        "job-1/bad/_logs/stderr.txt",
        "job-1/bad/_logs/stdout.txt",
        "job-1/bad/exact.txt",
        "job-1/bad/failure/sub/result.txt",
        "job-1/ok/_logs/stderr.txt",
        "job-1/ok/_logs/stdout.txt",
        "job-1/ok/exact.txt",
        "job-1/ok/success/sub/result.txt",
    ]  # dot-files are left out unless named; each condition applied
    assert outputs.download_blob("job-1/ok/exact.txt").readall() == b"alphamodel"
    assert outputs.download_blob("job-1/bad/_logs/stdout.txt").readall() == b"log\n"
    uploaded_log = b"".join(client.download_task_file("job-1", "ok", "fileuploadout.txt"))
    assert b"job-1/ok/exact.txt" in uploaded_log


def test_upload_to_a_missing_container_fails_the_task(
    batch_emulator: BatchEmulator, azurite: Azurite
) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    missing = service.get_container_client("never-created")
    client = batch_emulator.client()
    output = _output(missing, batch_emulator.identity_resource_id, "x.txt", None, "taskcompletion")
    task = run_one_task(
        batch_emulator,
        client,
        m.BatchTaskCreateOptions(
            id="t", command_line="/bin/sh -c 'echo x > x.txt'", output_files=[output]
        ),
    )
    assert executed(task).exit_code == 0
    assert executed(task).result == m.BatchTaskExecutionResult.FAILURE
    assert failure_code(task) == "FileUploadContainerNotFound"
    errors = b"".join(client.download_task_file("job-1", "t", "fileuploaderr.txt"))
    assert b"FileUploadContainerNotFound" in errors


def test_resource_file_failures_are_not_retried(
    batch_emulator: BatchEmulator, azurite: Azurite
) -> None:
    inputs = _container(azurite, "inputs")
    inputs.upload_blob("a.txt", b"a")
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    retry = m.BatchTaskConstraints(max_task_retry_count=3)
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(
                id="missing-blob",
                command_line="true",
                constraints=retry,
                resource_files=[
                    m.ResourceFile(
                        http_url=f"{inputs.url}/nope.txt",
                        file_path="nope.txt",
                        identity_reference=m.BatchNodeIdentityReference(
                            resource_id=batch_emulator.identity_resource_id
                        ),
                    )
                ],
            ),
            m.BatchTaskCreateOptions(
                id="unknown-identity",
                command_line="true",
                constraints=retry,
                resource_files=[
                    m.ResourceFile(
                        storage_container_url=inputs.url,
                        identity_reference=m.BatchNodeIdentityReference(resource_id="/not/ours"),
                    )
                ],
            ),
        ],
    )
    tasks = {t.id: t for t in wait_for_tasks(client, "job-1", 2)}
    for task_id, code in (
        ("missing-blob", "BlobNotFound"),
        ("unknown-identity", "BlobAccessDenied"),
    ):
        info = executed(tasks[task_id])
        assert (failure_code(tasks[task_id]), info.exit_code, info.retry_count) == (code, None, 0)


def test_https_round_trip_with_token_credentials(
    batch_emulator_https: BatchEmulator, azurite_https: Azurite
) -> None:
    tokens = FakeTokenCredential()
    service = BlobServiceClient(
        azurite_https.blob_endpoint, credential=tokens, **azurite_https.blob_client_kwargs()
    )
    container = service.create_container(f"tls-{uuid.uuid4().hex[:8]}")
    container.upload_blob("job-1/tasks/t/in.txt", b"secure")
    identity = batch_emulator_https.identity_resource_id
    client = batch_emulator_https.client(FakeTokenCredential())
    task = run_one_task(
        batch_emulator_https,
        client,
        m.BatchTaskCreateOptions(
            id="t",
            command_line="/bin/sh -c 'cp job-1/tasks/t/in.txt out.txt'",
            # the https emulator's pool is a container pool, like the stack's
            container_settings=m.BatchTaskContainerSettings(
                image_name="docker.io/library/busybox:1.36"
            ),
            resource_files=[
                m.ResourceFile(
                    storage_container_url=container.url,
                    blob_prefix="job-1/tasks/t/",
                    identity_reference=m.BatchNodeIdentityReference(resource_id=identity),
                )
            ],
            output_files=[
                _output(container, identity, "out.txt", "job-1/t/out.txt", "tasksuccess")
            ],
        ),
    )
    assert executed(task).result == m.BatchTaskExecutionResult.SUCCESS, executed(task)
    assert container.download_blob("job-1/t/out.txt").readall() == b"secure"
    assert batch_emulator_https.principals["sharedkey"] == 0
