"""Errors users can act on: real SDK clients against real answers, our translation on top.

Answers the emulators cannot give (a missing role, a quota) come from a tiny loopback
server that replies with the exact status, headers and body Azure sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from superbatch.azure.errors import ThrottledError, call_with_retries
from superbatch.azure.monitor import task_status
from superbatch.azure.submit import TaskSubmitter
from superbatch.errors import ConfigError, JobNotFoundError, RemoteError
from superbatch.model import TaskState
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import TEST_IMAGE, noop_job
from tests.support.batch_guard import HEADER as STAND_IN_HEADER


class _Canned(BaseHTTPRequestHandler):
    answer: tuple[int, dict[str, str], bytes] = (500, {}, b"")

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header(STAND_IN_HEADER, "canned")  # a deliberate Batch stand-in
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _batch_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = {"odata.metadata": "x", "code": code, "message": {"lang": "en-US", "value": message}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _batch_client(server: ThreadingHTTPServer) -> Any:
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    url = f"http://127.0.0.1:{server.server_address[1]}"
    return BatchClient(url, AzureNamedKeyCredential("acct", "a2V5"), retry_total=0)


def test_missing_batch_role_names_role(canned: Any) -> None:
    canned.answer = _batch_error(
        403, "AuthorizationFailure", "This request is not authorized to perform this operation."
    )
    client = _batch_client(canned)

    with pytest.raises(ConfigError, match="Azure Batch Job Submitter") as caught:
        call_with_retries(lambda: client.get_job("j1"), action="find job j1")
    assert "AuthorizationFailure" in str(caught.value)


def test_missing_storage_role_names_role(canned: Any) -> None:
    from azure.storage.blob import ContainerClient

    canned.answer = (
        403,
        {"x-ms-error-code": "AuthorizationPermissionMismatch", "Content-Type": "application/xml"},
        b"<?xml version='1.0'?><Error><Code>AuthorizationPermissionMismatch</Code>"
        b"<Message>This request is not authorized.</Message></Error>",
    )
    container = ContainerClient(
        f"http://127.0.0.1:{canned.server_address[1]}/acct", "inputs", retry_total=0
    )
    from superbatch.azure.staging import existing_blob_hashes

    with pytest.raises(ConfigError, match="Storage Blob Data Contributor"):
        existing_blob_hashes(container, "job/")


def test_quota_is_named(canned: Any) -> None:
    canned.answer = _batch_error(
        409, "ActiveJobAndScheduleQuotaReached", "The specified account has reached its quota."
    )
    client = _batch_client(canned)

    with pytest.raises(RemoteError, match="quota"):
        call_with_retries(lambda: client.get_job("j1"), action="create job j1")


def test_unknown_job_is_job_not_found(stack: EmulatedStack) -> None:
    with pytest.raises(JobNotFoundError, match="nojob-1"):
        stack.backend().status("nojob-1")


def test_wrong_pool_says_pulumi_up(tmp_path: Path, stack: EmulatedStack) -> None:
    values = json.loads(stack.outputs_file.read_text())
    values["pool_id"] = "gone-pool"
    outputs = tmp_path / "wrong-pool.json"
    outputs.write_text(json.dumps(values))
    from superbatch.azure.backend import AzureBatchBackend

    with pytest.raises(ConfigError, match="pulumi up"):
        AzureBatchBackend.from_outputs_file(outputs).submit(noop_job(2, job_id="pool-1"))


def test_throttling_past_retries_stops_with_resume_advice(stack: EmulatedStack) -> None:
    from azure.batch import models

    client = stack.backend().batch
    client.create_job(
        models.BatchJobCreateOptions(
            id="busy-1", pool_info=models.BatchPoolInfo(pool_id=stack.emulator.pool_id)
        )
    )
    stack.emulator.faults.add("create_task_collection", "503", retry_after=0.05)
    submitter = TaskSubmitter(client, "busy-1", max_attempts=2)
    body = {"id": "0", "commandLine": "true", "containerSettings": {"imageName": TEST_IMAGE}}

    with pytest.raises(ThrottledError, match="re-run the same command later"):
        submitter.submit(
            [("0", json.dumps(body).encode())],
            expected={"0"},
            body_for=lambda t: b"",
        )


def test_a_400_without_batch_error_body_is_retried_not_fatal(canned: Any) -> None:
    """Batch refuses with a code; a body-less 400 (a broken exchange) is sent again."""
    canned.answer = (400, {}, b"")
    submitter = TaskSubmitter(_batch_client(canned), "j1", max_attempts=2)
    body = {"id": "0", "commandLine": "true", "containerSettings": {"imageName": TEST_IMAGE}}

    with pytest.raises(ThrottledError, match="re-run the same command later") as caught:
        submitter.submit([("0", json.dumps(body).encode())], expected={"0"}, body_for=bytes)
    assert "(400)" in str(caught.value)
    # ...while a 400 that Batch explains stays a refusal, at once
    canned.answer = _batch_error(
        400, "InvalidPropertyValue", "The value provided for one of the properties is invalid."
    )
    submitter = TaskSubmitter(_batch_client(canned), "j1", max_attempts=2)
    with pytest.raises(RemoteError, match="400 InvalidPropertyValue") as refused:
        submitter.submit([("0", json.dumps(body).encode())], expected={"0"}, body_for=bytes)
    assert not isinstance(refused.value, ThrottledError)


def test_a_body_less_400_is_retried_by_the_batch_policy_on_every_call(canned: Any) -> None:
    """A GET answered 400 with no body (Azurite's answer to a Batch request, seen once per
    suite run) is tried again within the policy's bounds; a 400 Batch explains is not."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.exceptions import HttpResponseError

    from superbatch.azure.retry import batch_retry_policy

    job = {"id": "j1", "state": "active", "poolInfo": {"poolId": "p"}}
    ok = (200, {"Content-Type": "application/json"}, json.dumps(job).encode())
    queue = [(400, {}, b""), (400, {}, b""), ok]
    served: list[int] = []

    class InTurn(type(canned)):  # type: ignore[misc]
        @property
        def answer(self) -> tuple[int, dict[str, str], bytes]:
            served.append(1)
            return queue.pop(0) if queue else refused

    refused = _batch_error(400, "InvalidPropertyValue", "The value is invalid.")
    canned.__class__ = InTurn
    url = f"http://127.0.0.1:{canned.server_address[1]}"
    client = BatchClient(
        url, AzureNamedKeyCredential("acct", "a2V5"), retry_policy=batch_retry_policy()
    )

    assert client.get_job("j1").id == "j1"
    assert len(served) == 3  # two body-less 400s, then the answer
    served.clear()
    with pytest.raises(HttpResponseError):
        client.get_job("j1")
    assert len(served) == 1  # Batch's own 400 is final


def test_image_pull_failure_names_image_and_push_command() -> None:
    from azure.batch import models

    task = models.BatchTask(
        {
            "id": "3",
            "state": "completed",
            "executionInfo": {
                "result": "failure",
                "retryCount": 0,
                "requeueCount": 0,
                "failureInfo": {
                    "category": "UserError",
                    "code": "ContainerPullImageFailed",
                    "message": "manifest for sbdev.azurecr.io/wc:2 not found",
                },
            },
        }
    )

    status = task_status(task, None, image="wc:2", registry="sbdev.azurecr.io")

    assert status.state is TaskState.FAILED
    assert "superbatch image push" in (status.failure or "")
    assert "sbdev.azurecr.io" in (status.failure or "")
