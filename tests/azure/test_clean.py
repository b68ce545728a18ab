"""`clean` on Azure: a failed deletion is a remote error (not "no such job"), and the files of
a job Batch no longer has can still be removed after the usual confirmation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from superbatch.errors import JobNotFoundError, RemoteError
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import files_job
from tests.runner.conftest import superbatch


def _blobs(stack: EmulatedStack, job_id: str) -> list[str]:
    return [
        blob.name
        for name in (stack.outputs.inputs_container, stack.outputs.outputs_container)
        for blob in stack.container(name).list_blobs(name_starts_with=f"{job_id}/")
    ]


def _gone_from_batch(stack: EmulatedStack, job_id: str) -> bool:
    for _ in range(600):  # the emulator removes a deleting job once nothing of it runs
        if job_id not in stack.emulator.account.jobs:
            return True
        time.sleep(0.1)
    return False


def test_a_failed_deletion_says_so_and_its_files_are_cleaned_later(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    job = files_job(tmp_path, [b"a", b"bb"], job_id="clean-half")
    backend = stack.backend()
    backend.submit(job)
    backend.wait(job.job_id, timeout=120)
    assert _blobs(stack, job.job_id)

    # Batch accepts the deletion, then every look at the job fails: the SDK's poller ends "Failed"
    stack.emulator.faults.add("get_job", "503")
    with pytest.raises(RemoteError, match="did not finish") as failed:
        backend.clean(job.job_id)
    assert not isinstance(failed.value, JobNotFoundError)
    stack.emulator.faults.clear()
    assert _gone_from_batch(stack, job.job_id)
    assert _blobs(stack, job.job_id)  # nothing deleted past the failure

    args = ("--outputs", str(stack.outputs_file))
    status = superbatch("status", job.job_id, *args, cwd=tmp_path)
    assert status.code == 0 and "deleted" in status.stdout, status.stderr
    clean = superbatch("clean", job.job_id, *args, cwd=tmp_path, input="y\n")  # no --yes
    assert clean.code == 0, clean.stderr
    assert _blobs(stack, job.job_id) == []
    gone = superbatch("status", job.job_id, *args, cwd=tmp_path)
    assert gone.code == 5 and job.job_id in gone.stderr
