"""Large blobs: parallel blocks sized from the file, resumable after a kill, verified by hash.

Upload: the file is cut into equal blocks (about 64 of them, 4-100 MiB each) whose ids
derive from the file's sha256 and the block's number, staged a few at a time (each with a
transactional MD5), then committed in one request that also writes the sha256 label. A
killed upload leaves its staged blocks as the blob's *uncommitted block list*; the next
run asks for that list and stages only the blocks that are missing.

Download: byte ranges of the same size, several at a time, written in place into
``.<name>.<etag>.part`` with one line per finished range in ``.<name>.<etag>.done``. A killed
download resumes with the ranges that are not listed; the finished file is checked against
the blob's sha256 label or Content-MD5 (size alone when it has neither) before it is renamed
into place.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superbatch.digest import new_hasher
from superbatch.errors import RemoteError

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

    from superbatch.azure.blob_get import BlobGetter

MIB = 1 << 20
MIN_BLOCK = 4 * MIB
MAX_BLOCK = 100 * MIB
TARGET_BLOCKS = 64
MAX_BLOCKS = 50_000  # Azure's limit per block blob
BLOCK_CONCURRENCY = 16
HASH_CHUNK = 1 << 20


def block_size(size: int) -> int:
    """Block (and range) size for a file of ``size`` bytes: a whole number of MiB."""
    wanted = max(MIN_BLOCK, min(MAX_BLOCK, math.ceil(size / TARGET_BLOCKS)))
    wanted = max(wanted, math.ceil(size / MAX_BLOCKS))
    return math.ceil(wanted / MIB) * MIB


def _spans(size: int, block: int) -> list[tuple[int, int]]:
    return [(start, min(block, size - start)) for start in range(0, size, block)] or [(0, 0)]


def block_ids(sha256: str, count: int) -> list[str]:
    """Same length for every id (Azure requires it), stable for the same content."""
    return [f"sb-{sha256[:32]}-{index:06d}" for index in range(count)]


@dataclass(frozen=True, slots=True)
class Transfer:
    blocks: int  # all blocks (or ranges) of the blob
    sent: int  # those moved by this call (the rest were there already)
    bytes_moved: int


def upload_in_blocks(
    blob: BlobClient,
    source: Path,
    *,
    size: int,
    sha256: str,
    metadata: dict[str, str],
    concurrency: int = BLOCK_CONCURRENCY,
) -> Transfer:
    """Stage the blocks the blob's uncommitted list lacks, then commit them all."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobBlock

    block = block_size(size)
    spans = _spans(size, block)
    ids = block_ids(sha256, len(spans))
    try:
        _, uncommitted = blob.get_block_list("uncommitted")
    except ResourceNotFoundError:
        uncommitted = []
    present = {item.id: item.size for item in uncommitted}
    todo = [i for i, (_, length) in enumerate(spans) if present.get(ids[i]) != length]

    def stage(index: int) -> int:
        start, length = spans[index]
        with source.open("rb") as stream:
            stream.seek(start)
            data = stream.read(length)
        if len(data) != length:
            raise RemoteError(f"{source} changed while it was being uploaded: run again")
        blob.stage_block(ids[index], data, length=length, validate_content=True)
        return length

    moved = _run(stage, todo, concurrency)
    blob.commit_block_list([BlobBlock(block_id=i) for i in ids], metadata=metadata)
    return Transfer(len(spans), len(todo), moved)


def download_in_ranges(
    blob: BlobClient,
    path: Path,
    *,
    size: int,
    etag: str,
    sha256: str | None = None,
    content_md5: bytes | None = None,
    mode: int = 0o644,
    concurrency: int = BLOCK_CONCURRENCY,
    getter: BlobGetter | None = None,
) -> Transfer:
    """Download ``blob`` to ``path`` in ranges, resuming a killed download of the same ETag.

    Ranges stream into the file through ``getter`` (the lean reader) when given, else the
    SDK. The hash is taken while they arrive: this thread reads each range back, in order,
    as soon as it is on disk (a range a killed run left is read back too), so checking a
    GiB costs no time after the last byte.
    """
    tag = hashlib.sha256(etag.encode()).hexdigest()[:12]
    part = path.with_name(f".{path.name}.{tag}.part")
    done_log = path.with_name(f".{path.name}.{tag}.done")
    block = block_size(size)
    spans = _spans(size, block)
    done: set[int] = set()
    if part.exists() and done_log.exists():
        lines = done_log.read_text().split("\n")[:-1]  # a torn last line is not done
        done = {int(line) for line in lines if line.isdigit()}
    else:
        done_log.unlink(missing_ok=True)
    hasher = new_hasher("sha256") if sha256 else new_hasher("md5") if content_md5 else None
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        os.ftruncate(fd, size)
        with done_log.open("a") as log:

            def fetch(index: int) -> int:
                start, length = spans[index]
                if getter is not None:
                    got = getter.copy(
                        blob.blob_name, fd, offset=start, start=start, length=length, etag=etag
                    )
                else:
                    data = blob.download_blob(
                        offset=start, length=length, etag=f'"{etag}"', match_condition=_if_same()
                    ).readall()
                    got = os.pwrite(fd, data, start)
                if got != length:
                    raise RemoteError(f"{blob.blob_name}: short read at {start}")
                log.write(f"{index}\n")  # after the bytes: a listed range is on disk
                log.flush()
                return length

            todo = [i for i in range(len(spans)) if i not in done]
            moved = _fetch_in_order(fetch, todo, spans, concurrency, fd=fd, hasher=hasher)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    if hasher is not None:
        expected = bytes.fromhex(sha256) if sha256 else content_md5
        if hasher.digest() != expected:
            part.unlink(missing_ok=True)
            done_log.unlink(missing_ok=True)
            raise RemoteError(
                f"{blob.blob_name}: the downloaded bytes do not match its hash; run again"
            )
    os.replace(part, path)
    done_log.unlink(missing_ok=True)
    return Transfer(len(spans), len(todo), moved)


def _if_same() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


def _fetch_in_order(
    fetch: Callable[[int], int],
    todo: list[int],
    spans: list[tuple[int, int]],
    concurrency: int,
    *,
    fd: int,
    hasher: Any,
) -> int:
    """Run ``fetch`` over ``todo`` on a pool while this thread hashes every span in order."""
    moved = 0
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo) or 1)))
    try:
        futures = {index: pool.submit(fetch, index) for index in todo}
        buffer = bytearray(min(HASH_CHUNK, max(length for _, length in spans)) or 1)
        for index, (start, length) in enumerate(spans):
            if index in futures:
                moved += futures[index].result()
            if hasher is not None:
                _hash_span(fd, hasher, start, length, buffer)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return moved


def _hash_span(fd: int, hasher: Any, start: int, length: int, buffer: bytearray) -> None:
    view = memoryview(buffer)
    end = start + length
    while start < end:
        count = os.preadv(fd, [view[: min(len(buffer), end - start)]], start)
        if count <= 0:
            raise RemoteError("the partly downloaded file shrank: run again")
        hasher.update(view[:count])
        start += count


def _run(work: Callable[[int], int], items: list[int], concurrency: int) -> int:
    if not items:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return sum(pool.map(work, items))
