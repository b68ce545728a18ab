"""The suite's Batch tripwire (tests/support/batch_guard.py): a Batch answer that does not come
from a Batch stand-in is an error at once, in the test process and in commands it starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import superbatch
from tests.support import batch_guard


@pytest.fixture
def guard_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own record of crossings (the autouse fixture's stays empty)."""
    log = tmp_path / "crossed.log"
    monkeypatch.setenv(batch_guard.LOG_ENV, str(log))
    return log


def test_an_answer_from_azurite_to_a_batch_client_is_an_error_at_once(
    stack: EmulatedStack, guard_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(batch_guard.STRICT_ENV, "1")
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    assert stack.backend().batch.get_pool(stack.emulator.pool_id).id  # the emulator: fine
    assert not guard_log.exists()
    azurite_url = stack.azurite.blob_endpoint.rsplit("/", 1)[0]
    wrong = BatchClient(
        azurite_url,
        AzureNamedKeyCredential(stack.emulator.account_name, stack.emulator.account_key),
        connection_verify=str(stack.azurite.ca_bundle),
    )
    with pytest.raises(batch_guard.CrossedEndpoints, match=r"Azurite-Blob.*endpoints crossed"):
        wrong.get_job("job-1")  # Azurite answers a Batch GET with a body-less 400
    assert f":{stack.azurite.port}/jobs/job-1" in guard_log.read_text()


def test_a_command_answered_by_azurite_is_recorded(
    tmp_path: Path, stack: EmulatedStack, guard_log: Path
) -> None:
    values = json.loads(stack.outputs_file.read_text())
    values["batch_account_endpoint"] = stack.azurite.blob_endpoint.rsplit("/", 1)[0]
    crossed = tmp_path / "crossed-outputs.json"
    crossed.write_text(json.dumps(values))

    status = superbatch("status", "job-0123456789", "--outputs", str(crossed), cwd=tmp_path)

    assert status.code != 0
    lines = guard_log.read_text().splitlines()
    assert lines and all("Azurite-Blob" in line for line in lines), lines
    assert "/jobs/job-0123456789" in lines[0]
