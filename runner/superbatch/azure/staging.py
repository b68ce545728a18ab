"""Staging: a job's input files into the inputs container, concurrently and only once.

Layout (design.md): ``<job>/shared/<dest>`` for files every task gets and
``<job>/tasks/<task>/<dest>`` for each task's own inputs, so one resource-file entry per
prefix brings a task everything it needs.

Each blob carries the sha256 of its content in its metadata, written in the same request as
the content (a single put, or the block-list commit for large files), so a blob is either
complete and labelled or absent. Re-runs list ``<job>/`` once and skip every blob whose
label matches. Within a job, identical content is uploaded once and the other names are
server-side copies of that first blob (no bytes leave this machine twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.azure.blob_put import SMALL_BLOB_BYTES, lean_putter
from superbatch.azure.errors import translate_azure_error
from superbatch.digest import file_hash
from superbatch.model import InputFile, ResolvedJob

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

_LOGGER = logging.getLogger(__name__)

SHA256_METADATA_KEY = "sha256"
STAGING_CONCURRENCY = 32
_COPY_POLL_SECONDS = 0.2


def shared_prefix(job_id: str) -> str:
    return f"{job_id}/shared/"


def task_prefix(job_id: str, task_id: str) -> str:
    return f"{job_id}/tasks/{task_id}/"


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """One blob the job needs: where it comes from and what its content hashes to."""

    name: str
    source: Path
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class StagingReport:
    uploaded: int  # blobs whose bytes were sent
    copied: int  # blobs created by a server-side copy of identical content
    skipped: int  # blobs already present with the same content
    bytes_uploaded: int

    @property
    def total(self) -> int:
        return self.uploaded + self.copied + self.skipped


def staging_targets(job: ResolvedJob) -> Iterator[tuple[str, InputFile]]:
    """(blob name, input file) for every file the job stages, shared ones first."""
    for shared in job.shared:
        yield shared_prefix(job.job_id) + shared.dest, shared
    for task in job.tasks:
        for item in task.inputs:
            if isinstance(item, InputFile):  # blobs already in storage stay where they are
                yield task_prefix(job.job_id, task.id) + item.dest, item


def plan_staging(job: ResolvedJob, *, concurrency: int = STAGING_CONCURRENCY) -> list[StagedBlob]:
    """Hash every distinct local file once (in parallel) and name its blob(s)."""
    targets = list(staging_targets(job))
    sources = sorted({item.source for _, item in targets})
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(sources) or 1))) as pool:
        digests = dict(zip(sources, pool.map(file_sha256, sources), strict=True))
    return [
        StagedBlob(name, item.source, digests[item.source][0], digests[item.source][1])
        for name, item in targets
    ]


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = file_hash(path)
    return digest.hex(), size


def existing_blob_hashes(container: ContainerClient, prefix: str) -> dict[str, str | None]:
    """Blob name -> sha256 label for every blob under ``prefix`` (one listing, paged by 5000)."""
    found: dict[str, str | None] = {}
    try:
        for blob in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            found[blob.name] = (blob.metadata or {}).get(SHA256_METADATA_KEY)
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"list staged inputs under {prefix}", service="storage"
        ) from exc
    return found


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """What staging a job will do, decided from one listing of ``<job>/`` (reads only)."""

    blobs: tuple[StagedBlob, ...]
    uploads: tuple[StagedBlob, ...]  # bytes sent: the first blob of each new content
    copies: tuple[StagedBlob, ...]  # server-side copies of content already there or sent
    sources: dict[str, str]  # sha256 -> the blob name a copy comes from

    @property
    def skipped(self) -> int:
        return len(self.blobs) - len(self.uploads) - len(self.copies)


def plan_uploads(
    container: ContainerClient, job: ResolvedJob, *, concurrency: int = STAGING_CONCURRENCY
) -> UploadPlan:
    """Hash the inputs and list what is staged already: what is missing, sent or copied."""
    blobs = plan_staging(job, concurrency=concurrency)
    if not blobs:
        return UploadPlan((), (), (), {})
    present = existing_blob_hashes(container, f"{job.job_id}/")
    missing = [blob for blob in blobs if present.get(blob.name) != blob.sha256]
    # Content already in the container (from a previous, interrupted run) is a copy source.
    sources: dict[str, str] = {}
    for name, sha in present.items():
        if sha is not None and sha not in sources:
            sources[sha] = name
    first_uploads: dict[str, StagedBlob] = {}
    copies: list[StagedBlob] = []
    for blob in missing:
        if blob.sha256 in sources or blob.sha256 in first_uploads:
            copies.append(blob)
        else:
            first_uploads[blob.sha256] = blob
    uploads = tuple(first_uploads.values())
    for blob in uploads:
        sources[blob.sha256] = blob.name
    return UploadPlan(tuple(blobs), uploads, tuple(copies), sources)


def stage_inputs(
    container: ContainerClient,
    job: ResolvedJob,
    *,
    concurrency: int = STAGING_CONCURRENCY,
) -> StagingReport:
    """Upload what is missing under ``<job>/``; skip what is there; copy duplicates."""
    plan = plan_uploads(container, job, concurrency=concurrency)
    if not plan.blobs:
        return StagingReport(0, 0, 0, 0)
    uploads, copies, sources = plan.uploads, plan.copies, plan.sources
    skipped = plan.skipped

    putter = lean_putter(container.url, container.credential)

    def upload(blob: StagedBlob) -> None:
        if putter is not None and blob.size <= SMALL_BLOB_BYTES:
            putter.put(blob.name, blob.source, {SHA256_METADATA_KEY: blob.sha256})
        else:
            _upload(container, blob)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        _run_all(pool.map(upload, uploads))
        _run_all(pool.map(lambda b: _copy(container, b, sources[b.sha256]), copies))
    return StagingReport(
        uploaded=len(uploads),
        copied=len(copies),
        skipped=skipped,
        bytes_uploaded=sum(blob.size for blob in uploads),
    )


def _run_all(results: Iterable[None]) -> None:
    for _ in results:
        pass


def _upload(container: ContainerClient, blob: StagedBlob) -> None:
    """A larger file: parallel blocks, resumable (see :mod:`superbatch.azure.big_blobs`)."""
    from superbatch.azure.big_blobs import upload_in_blocks

    try:
        upload_in_blocks(
            container.get_blob_client(blob.name),
            blob.source,
            size=blob.size,
            sha256=blob.sha256,
            metadata={SHA256_METADATA_KEY: blob.sha256},
        )
    except OSError as exc:
        from superbatch.errors import SpecError

        raise SpecError(f"cannot read input {blob.source}: {exc.strerror}") from exc
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"upload {blob.source} to {blob.name}", service="storage"
        ) from exc


def _copy(container: ContainerClient, blob: StagedBlob, source_name: str) -> None:
    """Server-side copy within the account: authorised by the same identity, no bytes sent."""
    import time

    try:
        target = container.get_blob_client(blob.name)
        source_url = container.get_blob_client(source_name).url
        copy = target.start_copy_from_url(source_url, metadata={SHA256_METADATA_KEY: blob.sha256})
        status = copy.get("copy_status")
        while status == "pending":
            time.sleep(_COPY_POLL_SECONDS)
            status = target.get_blob_properties().copy.status
        if status != "success":
            raise RuntimeError(f"copy of {source_name} to {blob.name} ended {status}")
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"copy {source_name} to {blob.name}", service="storage"
        ) from exc
