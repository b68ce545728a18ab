from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from superbatch.azure.cleanup import delete_job_blobs
from superbatch.azure.download import download_job_outputs, logical_name, read_blob_text
from superbatch.azure.errors import translate_azure_error
from superbatch.errors import ConfigError

BLOBS = {
    "job-1/0/out/a.json": b'{"n": 1}',
    "_logs/job-1/0/stdout.txt": b"hello\n",
    "_logs/job-1/0/stderr.txt": b"",
    "job-1/1/out/deep/b.json": b'{"n": 2}',
    "job-1/_aggregate/total.json": b"3",
    "job-10/0/out/other.json": b"not this job",
}


def _fill(container: Any) -> None:
    for name, data in BLOBS.items():
        container.upload_blob(name, data, overwrite=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_downloads_the_job_into_the_results_layout(tmp_path: Path, inputs_container: Any) -> None:
    _fill(inputs_container)

    report = download_job_outputs(inputs_container, "job-1", tmp_path)

    assert _tree(tmp_path) == {
        logical_name(k): v for k, v in BLOBS.items() if "job-1/" in k and "job-10" not in k
    }
    assert (report.downloaded, report.skipped) == (5, 0)


def test_rerun_fetches_only_what_is_missing_or_different(
    tmp_path: Path, inputs_container: Any
) -> None:
    _fill(inputs_container)
    download_job_outputs(inputs_container, "job-1", tmp_path)
    (tmp_path / "job-1/0/out/a.json").write_bytes(b'{"n": 9}')  # same size, other content
    (tmp_path / "job-1/1/out/deep/b.json").unlink()

    report = download_job_outputs(inputs_container, "job-1", tmp_path)

    assert (report.downloaded, report.skipped) == (2, 3)
    assert (tmp_path / "job-1/0/out/a.json").read_bytes() == b'{"n": 1}'
    assert not list(tmp_path.rglob("*.part"))


def test_logs_and_clean(inputs_container: Any) -> None:
    _fill(inputs_container)

    assert read_blob_text(inputs_container, "_logs/job-1/0/stdout.txt") == "hello\n"
    assert read_blob_text(inputs_container, "_logs/job-1/9/stdout.txt") is None
    assert delete_job_blobs(inputs_container, "job-1") == 5
    assert [b.name for b in inputs_container.list_blobs()] == ["job-10/0/out/other.json"]


def test_missing_container_says_pulumi_up(tmp_path: Path, inputs_container: Any) -> None:
    from azure.storage.blob import ContainerClient

    gone = ContainerClient.from_container_url(
        inputs_container.url.rsplit("/", 1)[0] + "/does-not-exist",
        credential=inputs_container.credential,
    )
    with pytest.raises(ConfigError, match="pulumi up"):
        download_job_outputs(gone, "job-1", tmp_path)


def test_translation_keeps_our_errors() -> None:
    error = ConfigError("x")
    assert translate_azure_error(error, action="y") is error


def test_a_listing_never_runs_far_ahead_of_the_downloads(
    tmp_path: Path, inputs_container: Any
) -> None:
    """A listing is much faster than the downloads: only a few per thread wait in the pool,
    not one queued download per blob (at 100,000 tasks those were most of the memory)."""
    from superbatch.azure.download import QUEUED_PER_THREAD

    count = 120
    for i in range(count):
        inputs_container.upload_blob(f"job-1/{i}/n.txt", b"x", overwrite=True)
    waiting: list[int] = []  # as each blob is listed: downloads handed out, not yet done

    def select(path: str) -> bool:
        done = sum(1 for _ in tmp_path.rglob("n.txt"))
        waiting.append(len(waiting) - done)
        return True

    report = download_job_outputs(
        inputs_container, "job-1", tmp_path, concurrency=1, select=select, logs=False
    )

    assert report.downloaded == count
    assert len(list(tmp_path.rglob("n.txt"))) == count
    assert max(waiting) <= QUEUED_PER_THREAD
