"""Results: the outputs container's ``<job>/`` brought home, concurrently and resumably.

Blob ``<job>/<task>/<path>`` lands at ``<dest>/<job>/<task>/<path>`` (logs included, under
``_logs/``), the layout ``--local`` writes. Each file is written to a temporary name and
renamed, so an interrupted download never leaves half a file. A file already in place is
skipped when its size and Content-MD5 match the blob (or, for blobs without an MD5, its
size and modification time, which we set to the blob's own after each download).
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from superbatch.azure.errors import translate_azure_error
from superbatch.digest import file_hash
from superbatch.errors import RemoteError

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

DOWNLOAD_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class DownloadReport:
    downloaded: int
    skipped: int
    bytes_downloaded: int
    names: frozenset[str] = frozenset()  # every blob under <job>/, as <job>/<task>/<path>


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
) -> DownloadReport:
    try:
        blobs = list(container.list_blobs(name_starts_with=f"{job_id}/"))
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"list the outputs of job {job_id}", service="storage"
        ) from exc
    wanted = [(blob, local_path(dest, blob.name)) for blob in blobs]
    todo = [(blob, path) for blob, path in wanted if not _up_to_date(path, blob)]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for _ in pool.map(lambda item: _download(container, *item), todo):
            pass
    return DownloadReport(
        downloaded=len(todo),
        skipped=len(wanted) - len(todo),
        bytes_downloaded=sum(blob.size for blob, _ in todo),
        names=frozenset(blob.name for blob in blobs),
    )


def files_by_task(names: Iterable[str], job_id: str) -> dict[str, set[str]]:
    """Blob names ``<job>/<task>/<path>`` -> task id -> paths in ``results/<job>/<task>/``."""
    found: dict[str, set[str]] = {}
    for name in names:
        _, task_id, path = name.split("/", 2)
        found.setdefault(task_id, set()).add(path)
    return found


def _download(container: ContainerClient, blob: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as sink:
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


def read_blob_text(container: ContainerClient, name: str) -> str | None:
    """A small blob as text (logs), or None when it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        data: bytes = container.download_blob(name).readall()
    except ResourceNotFoundError:
        return None
    except Exception as exc:
        raise translate_azure_error(exc, action=f"read {name}", service="storage") from exc
    return data.decode("utf-8", errors="replace")
