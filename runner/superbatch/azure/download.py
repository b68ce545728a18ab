"""Results: the outputs container's ``<job>/`` brought home, concurrently and resumably.

Blob ``<job>/<task>/<path>`` lands at ``<dest>/<job>/<task>/<path>`` and the task's logs,
stored apart as ``_logs/<job>/<task>/stdout.txt`` (so the aggregate step's one resource
file, prefix ``<job>/``, brings it outputs and never logs), land under
``<dest>/<job>/<task>/_logs/``: the layout ``--local`` writes. Each file is written to a
temporary name and renamed, so an interrupted download never leaves half a file. A file
already in place is skipped when its size and Content-MD5 match the blob (or, for blobs
without an MD5, its size and modification time, which we set to the blob's own after each download).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from superbatch.azure.blob_get import BlobGetter, ListedBlob, lean_getter, listed_from_sdk
from superbatch.azure.errors import translate_azure_error
from superbatch.digest import file_hash
from superbatch.errors import RemoteError, SuperBatchError
from superbatch.results import FILE_MODE
from superbatch.validate import LOGS_DIR

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

DOWNLOAD_CONCURRENCY = 32
BIG_BLOB_BYTES = 32 << 20  # above this: parallel ranges, resumable
QUEUED_PER_THREAD = 4  # downloads handed to the pool ahead of its threads, per thread


@dataclass(frozen=True, slots=True)
class DownloadReport:
    downloaded: int
    skipped: int
    bytes_downloaded: int
    names: frozenset[str] = frozenset()  # every blob picked, as <job>/<task>/<path>
    sizes: dict[str, int] = field(default_factory=dict)  # <job>/<task>/<path> -> size
    blob_names: dict[str, str] = field(default_factory=dict)  # ... -> its stored name


def logs_prefix(job_id: str) -> str:
    """Where tasks' logs are stored: ``_logs/<job>/<task>/{stdout,stderr}.txt``."""
    return f"{LOGS_DIR}/{job_id}/"


def log_blob(job_id: str, task_id: str, stream: str) -> str:
    return f"{logs_prefix(job_id)}{task_id}/{stream}.txt"


def logical_name(blob_name: str) -> str:
    """A stored name as its place in the results layout: ``<job>/<task>/<path>``."""
    if blob_name.startswith(f"{LOGS_DIR}/"):
        _, job_id, task_id, rest = [*blob_name.split("/", 3), "", "", ""][:4]
        return f"{job_id}/{task_id}/{LOGS_DIR}/{rest}"
    return blob_name


def job_blob_prefixes(job_id: str) -> tuple[str, str]:
    """Every prefix the job's files are stored under: outputs, then logs."""
    return f"{job_id}/", logs_prefix(job_id)


def local_path(dest: Path, blob_name: str) -> Path:
    """``<job>/<task>/<path>`` -> ``dest/<job>/<task>/<path>``, refusing escapes."""
    parts = PurePosixPath(blob_name).parts
    if len(parts) < 3 or any(part in {"..", "."} for part in parts):
        raise RemoteError(f"unexpected blob name in the outputs container: {blob_name!r}")
    return dest.joinpath(*parts)


def _up_to_date(path: Path, blob: ListedBlob) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    if stat.st_size != blob.size:
        return False
    if blob.content_md5:
        return file_hash(path, "md5")[0] == blob.content_md5
    return int(stat.st_mtime) == int(blob.last_modified)


def _listing(
    container: ContainerClient, getter: BlobGetter | None, prefix: str, job_id: str
) -> Iterator[ListedBlob]:
    try:
        if getter is not None:
            yield from getter.list(prefix, metadata=True)
            return
        for item in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            yield listed_from_sdk(item)
    except SuperBatchError:
        raise
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"list the outputs of job {job_id}", service="storage"
        ) from exc


def download_job_outputs(
    container: ContainerClient,
    job_id: str,
    dest: Path,
    *,
    concurrency: int = DOWNLOAD_CONCURRENCY,
    select: Callable[[str], bool] | None = None,
    fetch: bool = True,
    logs: bool = True,
) -> DownloadReport:
    """Download the job's blobs (those whose path in their task's folder ``select`` picks);
    ``fetch=False`` only lists them.

    Downloads start with the first page of the listing (5,000 blobs), not after the last.
    """
    getter = lean_getter(container.url, container.credential)
    fresh = not (dest / job_id).exists()  # nothing there yet: no file to compare
    folders = _Folders()
    listed = downloaded = bytes_downloaded = 0
    # Only what the report needs is kept per blob, and only a few downloads per thread wait
    # in the pool: a listing runs far ahead of the downloads, and a queued download (its
    # future, listing and path) held for every blob of a 100,000-task job was most of the
    # runner's memory.
    sizes: dict[str, int] = {}
    blob_names: dict[str, str] = {}
    # a slot per download handed to the pool, freed as it ends (a semaphore: waiting on a
    # set of futures instead costs the listing thread time for every one of them)
    slots = threading.BoundedSemaphore(max(1, concurrency) * QUEUED_PER_THREAD)
    failed: list[Future[None]] = []

    def ended(future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            failed.append(future)
        slots.release()

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        for prefix in job_blob_prefixes(job_id):
            if prefix.startswith(LOGS_DIR) and not logs:
                continue  # nobody asks for logs: do not even list them
            for blob in _listing(container, getter, prefix, job_id):
                name = logical_name(blob.name)
                if select is not None and not select(name.split("/", 2)[-1]):
                    continue
                listed += 1
                sizes[name] = blob.size
                blob_names[name] = blob.name  # the same string but for logs
                path = local_path(dest, name)
                if fetch and (fresh or not _up_to_date(path, blob)):
                    downloaded += 1
                    bytes_downloaded += blob.size
                    slots.acquire()
                    if failed:
                        failed[0].result()  # raises the download's error
                    future = pool.submit(_download, container, blob, path, getter, folders)
                    future.add_done_callback(ended)
        pool.shutdown(wait=True)
        if failed:
            failed[0].result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    return DownloadReport(
        downloaded=downloaded,
        skipped=listed - downloaded if fetch else listed,
        bytes_downloaded=bytes_downloaded,
        names=frozenset(sizes),
        sizes=sizes,
        blob_names=blob_names,
    )


class _Folders:
    """Creates each results folder once (a download of 10,000 files in 10,000 task folders
    would otherwise try, and fail, a ``mkdir`` of every parent for every file)."""

    def __init__(self) -> None:
        self._made: set[Path] = set()

    def make(self, folder: Path) -> None:
        if folder in self._made:
            return
        parent = folder.parent
        if parent not in self._made:  # <task>/ of <task>/out/: one mkdir each, none failing
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        folder.mkdir(exist_ok=True)
        self._made.add(folder)


def files_by_task(names: Iterable[str], job_id: str) -> dict[str, set[str]]:
    """Blob names ``<job>/<task>/<path>`` -> task id -> paths in ``results/<job>/<task>/``."""
    found: dict[str, set[str]] = {}
    for name in names:
        _, task_id, path = name.split("/", 2)
        found.setdefault(task_id, set()).add(path)
    return found


_PART_NAMES = itertools.count()


def _download(
    container: ContainerClient,
    blob: ListedBlob,
    path: Path,
    getter: BlobGetter | None,
    folders: _Folders,
) -> None:
    folders.make(path.parent)
    if blob.size > BIG_BLOB_BYTES:
        _download_big(container, blob, path, getter)
        return
    # created with the mode --local gives (mkstemp's 0600 is for secrets): no chmod after
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_PART_NAMES)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, FILE_MODE)
    except FileExistsError:  # left by a killed run of a process with the same pid
        tmp.unlink()
        fd = os.open(tmp, flags, FILE_MODE)
    try:
        try:
            if getter is not None:
                getter.copy(blob.name, fd)
            else:
                with open(fd, "wb", closefd=False) as sink:
                    container.download_blob(blob.name).readinto(sink)
            os.utime(fd, (blob.last_modified, blob.last_modified))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise translate_azure_error(
                exc, action=f"download {blob.name}", service="storage"
            ) from exc
        raise


def _download_big(
    container: ContainerClient, blob: ListedBlob, path: Path, getter: BlobGetter | None
) -> None:
    """Parallel ranges, resumable after a kill, checked against the blob's hash."""
    from superbatch.azure.big_blobs import download_in_ranges

    try:
        download_in_ranges(
            container.get_blob_client(blob.name),
            path,
            size=blob.size,
            etag=blob.etag,
            sha256=blob.metadata.get("sha256"),
            content_md5=blob.content_md5,
            mode=FILE_MODE,
            getter=getter,
        )
        os.utime(path, (blob.last_modified, blob.last_modified))
    except Exception as exc:
        raise translate_azure_error(exc, action=f"download {blob.name}", service="storage") from exc


def read_blob_bytes(container: ContainerClient, name: str) -> bytes | None:
    """A small blob's bytes (logs), or None when it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        data: bytes = container.download_blob(name).readall()
    except ResourceNotFoundError:
        return None
    except Exception as exc:
        raise translate_azure_error(exc, action=f"read {name}", service="storage") from exc
    return data


def read_blob_text(container: ContainerClient, name: str) -> str | None:
    """A small blob as text (logs), or None when it does not exist."""
    data = read_blob_bytes(container, name)
    return None if data is None else data.decode("utf-8", errors="replace")
