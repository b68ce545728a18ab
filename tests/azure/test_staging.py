from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from superbatch.azure.staging import SHA256_METADATA_KEY, stage_inputs
from tests.azure.jobs import files_job


def _blobs(container: Any) -> dict[str, tuple[str, str | None, bytes]]:
    return {
        blob.name: (
            blob.etag,
            (blob.metadata or {}).get(SHA256_METADATA_KEY),
            container.download_blob(blob.name).readall(),
        )
        for blob in container.list_blobs(include=["metadata"])
    }


def test_stages_every_input_under_the_job_layout(tmp_path: Path, inputs_container: Any) -> None:
    job = files_job(tmp_path, [b"alpha", b"beta", b"gamma"], shared=b"weights")

    report = stage_inputs(inputs_container, job)

    blobs = _blobs(inputs_container)
    assert sorted(blobs) == [
        "stage-test/shared/model.bin",
        "stage-test/tasks/0/data/f0.txt",
        "stage-test/tasks/1/data/f1.txt",
        "stage-test/tasks/2/data/f2.txt",
    ]
    assert blobs["stage-test/tasks/1/data/f1.txt"][2] == b"beta"
    assert blobs["stage-test/shared/model.bin"][1] == hashlib.sha256(b"weights").hexdigest()
    assert (report.uploaded, report.copied, report.skipped) == (4, 0, 0)


def test_identical_content_is_uploaded_once_and_copied(
    tmp_path: Path, inputs_container: Any
) -> None:
    job = files_job(tmp_path, [b"same", b"same", b"other", b"same"])

    report = stage_inputs(inputs_container, job)

    assert (report.uploaded, report.copied) == (2, 2)
    assert report.bytes_uploaded == len(b"same") + len(b"other")
    blobs = _blobs(inputs_container)
    assert [blobs[f"stage-test/tasks/{i}/data/f{i}.txt"][2] for i in range(4)] == [
        b"same",
        b"same",
        b"other",
        b"same",
    ]
    assert all(meta == hashlib.sha256(body).hexdigest() for _, meta, body in blobs.values())


def test_rerun_skips_present_blobs_and_replaces_stale_ones(
    tmp_path: Path, inputs_container: Any
) -> None:
    job = files_job(tmp_path, [b"one", b"two", b"three"])
    stage_inputs(inputs_container, job)
    before = _blobs(inputs_container)
    # An interrupted run left one blob missing and one blob without its label.
    inputs_container.delete_blob("stage-test/tasks/1/data/f1.txt")
    inputs_container.upload_blob("stage-test/tasks/2/data/f2.txt", b"thr", overwrite=True)

    report = stage_inputs(inputs_container, job)

    after = _blobs(inputs_container)
    assert (report.uploaded, report.copied, report.skipped) == (2, 0, 1)
    assert after["stage-test/tasks/0/data/f0.txt"][0] == before["stage-test/tasks/0/data/f0.txt"][0]
    assert after["stage-test/tasks/1/data/f1.txt"][2] == b"two"
    assert after["stage-test/tasks/2/data/f2.txt"][2] == b"three"


def test_missing_content_is_copied_from_a_blob_a_previous_run_left(
    tmp_path: Path, inputs_container: Any
) -> None:
    job = files_job(tmp_path, [b"dup", b"dup"])
    stage_inputs(inputs_container, job)
    inputs_container.delete_blob("stage-test/tasks/1/data/f1.txt")

    report = stage_inputs(inputs_container, job)

    assert (report.uploaded, report.copied, report.skipped) == (0, 1, 1)
    assert _blobs(inputs_container)["stage-test/tasks/1/data/f1.txt"][2] == b"dup"


def test_token_path_stages_small_and_large_files(tmp_path: Path, stack: Any) -> None:
    """Over https with Entra tokens: small files by the lean uploader, large ones by the SDK."""
    from superbatch.azure.blob_put import SMALL_BLOB_BYTES
    from superbatch.azure.credentials import container_client, default_credential

    big = b"0123456789abcdef" * (SMALL_BLOB_BYTES // 16 + 4096)
    job = files_job(tmp_path, [b"small", big, b"small"], job_id="tokens-1")
    container = container_client(stack.outputs.inputs_container_url, default_credential())

    report = stage_inputs(container, job)

    view = stack.container(stack.outputs.inputs_container)
    blobs = _blobs(view)
    assert (report.uploaded, report.copied) == (2, 1)
    assert blobs["tokens-1/tasks/1/data/f1.txt"][2] == big
    assert blobs["tokens-1/tasks/1/data/f1.txt"][1] == hashlib.sha256(big).hexdigest()
    assert blobs["tokens-1/tasks/2/data/f2.txt"][2] == b"small"
