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

import base64
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from superbatch.azure.blob_get import BlobGetter, lean_getter
from superbatch.azure.blob_put import SMALL_BLOB_BYTES
from superbatch.azure.errors import translate_azure_error
from superbatch.digest import file_hash
from superbatch.errors import RemoteError
from superbatch.results import FILE_MODE
from superbatch.validate import LOGS_DIR

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

DOWNLOAD_CONCURRENCY = 32
BIG_BLOB_BYTES = 32 << 20  # above this: parallel ranges, resumable


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


def _up_to_date(path: Path, blob: Any) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    if stat.st_size != blob.size:
        return False
    content_md5 = blob.content_settings.content_md5 if blob.content_settings else None
    if content_md5:
        expected = (
            bytes(content_md5)
            if not isinstance(content_md5, str)
            else base64.b64decode(content_md5)
        )
        return file_hash(path, "md5")[0] == expected
    return int(stat.st_mtime) == int(blob.last_modified.timestamp())


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
    ``fetch=False`` only lists them."""
    blobs: list[Any] = []
    for prefix in job_blob_prefixes(job_id):
        if prefix.startswith(LOGS_DIR) and not logs:
            continue  # nobody asks for logs: do not even list them
        try:
            blobs += container.list_blobs(name_starts_with=prefix, include=["metadata"])
        except Exception as exc:
            raise translate_azure_error(
                exc, action=f"list the outputs of job {job_id}", service="storage"
            ) from exc
    named = [(blob, logical_name(blob.name)) for blob in blobs]
    if select is not None:
        named = [(b, n) for b, n in named if select(n.split("/", 2)[-1])]
    wanted = [(blob, local_path(dest, name)) for blob, name in named]
    todo = [(blob, path) for blob, path in wanted if fetch and not _up_to_date(path, blob)]
    getter = lean_getter(container.url, container.credential) if todo else None
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for _ in pool.map(lambda item: _download(container, *item, getter=getter), todo):
            pass
    return DownloadReport(
        downloaded=len(todo),
        skipped=len(wanted) - len(todo),
        bytes_downloaded=sum(blob.size for blob, _ in todo),
        names=frozenset(name for _, name in named),
        sizes={name: int(blob.size) for blob, name in named},
        blob_names={name: blob.name for blob, name in named},
    )


def files_by_task(names: Iterable[str], job_id: str) -> dict[str, set[str]]:
    """Blob names ``<job>/<task>/<path>`` -> task id -> paths in ``results/<job>/<task>/``."""
    found: dict[str, set[str]] = {}
    for name in names:
        _, task_id, path = name.split("/", 2)
        found.setdefault(task_id, set()).add(path)
    return found


def _download(
    container: ContainerClient, blob: Any, path: Path, *, getter: BlobGetter | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if blob.size > BIG_BLOB_BYTES:
        _download_big(container, blob, path)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, FILE_MODE)  # as --local writes them (mkstemp's 0600 is for secrets)
        with os.fdopen(fd, "wb") as sink:
            if getter is not None and blob.size <= SMALL_BLOB_BYTES:
                sink.write(getter.get(blob.name))  # small: the lean request
            else:
                container.download_blob(blob.name).readinto(sink)
        modified = blob.last_modified.timestamp()
        os.utime(tmp, (modified, modified))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise translate_azure_error(
                exc, action=f"download {blob.name}", service="storage"
            ) from exc
        raise


def _download_big(container: ContainerClient, blob: Any, path: Path) -> None:
    """Parallel ranges, resumable after a kill, checked against the blob's hash."""
    from superbatch.azure.big_blobs import download_in_ranges

    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    try:
        download_in_ranges(
            container.get_blob_client(blob.name),
            path,
            size=blob.size,
            etag=str(blob.etag).strip('"'),
            sha256=(blob.metadata or {}).get("sha256"),
            content_md5=bytes(md5) if md5 else None,
            mode=FILE_MODE,
        )
        modified = blob.last_modified.timestamp()
        os.utime(path, (modified, modified))
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
