"""The lean reader (List Blobs / Get Blob without the SDK's pipeline) against https Azurite
with Entra tokens: it must see and fetch exactly what the storage SDK sees and fetches."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from superbatch.azure.big_blobs import block_size, download_in_ranges
from superbatch.azure.blob_get import BlobGetter, lean_getter, listed_from_sdk
from superbatch.azure.credentials import container_client, default_credential
from superbatch.azure.download import BIG_BLOB_BYTES, download_job_outputs
from superbatch.errors import RemoteError
from superbatch.results import FILE_MODE


@pytest.fixture
def https_container(
    azurite_https: Any, fake_az_login: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any]]:
    """(the runner's client, a dev-key client for setting up) on one fresh container."""
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_bundle))
    name = f"lean-{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(
        azurite_https.connection_string, **azurite_https.blob_client_kwargs()
    )
    setup = service.create_container(name)
    ours = container_client(f"{azurite_https.blob_endpoint}/{name}", default_credential())
    try:
        yield ours, setup
    finally:
        setup.delete_container()


def _getter(container: Any) -> BlobGetter:
    getter = lean_getter(container.url, container.credential)
    assert getter is not None, "https + a token credential: the lean reader applies"
    return getter


NAMES = [
    "job-1/0/out/a.json",
    "job-1/0/out/with space & ampersand.txt",
    "job-1/1/out/ünïcode/#hash?query%.txt",
    "job-1/1/out/empty.txt",
    "job-1/2/out/big.bin",
    "job-10/0/out/other.json",
]


def test_listing_matches_the_sdk_page_after_page(https_container: tuple[Any, Any]) -> None:
    ours, setup = https_container
    for index, name in enumerate(NAMES):
        setup.upload_blob(name, b"x" * index, metadata={"sha256": f"v{index}"})

    lean = list(_getter(ours).list("job-1/", metadata=True, page_size=2))  # 3 pages
    sdk = [listed_from_sdk(b) for b in setup.list_blobs("job-1/", include=["metadata"])]

    assert lean == sdk
    assert [b.name for b in lean] == sorted(n for n in NAMES if n.startswith("job-1/"))


def test_downloads_through_the_lean_reader(
    tmp_path: Path, https_container: tuple[Any, Any]
) -> None:
    ours, setup = https_container
    bodies = {name: os.urandom(i * 700_000) for i, name in enumerate(NAMES)}  # up to 3.5 MB
    for name, body in bodies.items():
        setup.upload_blob(name, body)

    report = download_job_outputs(ours, "job-1", tmp_path)

    got = {p.relative_to(tmp_path).as_posix(): p for p in tmp_path.rglob("*") if p.is_file()}
    assert {k: v.read_bytes() for k, v in got.items()} == {
        k: v for k, v in bodies.items() if k.startswith("job-1/")
    }
    assert {p.stat().st_mode & 0o777 for p in got.values()} == {FILE_MODE}
    assert (report.downloaded, report.skipped) == (5, 0)
    again = download_job_outputs(ours, "job-1", tmp_path)
    assert (again.downloaded, again.skipped) == (0, 5)


def test_big_blob_in_ranges_is_checked_by_its_hash(
    tmp_path: Path, https_container: tuple[Any, Any]
) -> None:
    ours, setup = https_container
    body = os.urandom(BIG_BLOB_BYTES + block_size(BIG_BLOB_BYTES) + 12345)
    sha = hashlib.sha256(body).hexdigest()
    setup.upload_blob("job-1/0/out/big.bin", body, metadata={"sha256": sha})
    setup.upload_blob("job-2/0/out/big.bin", body, metadata={"sha256": "0" * 64})

    download_job_outputs(ours, "job-1", tmp_path)
    assert (tmp_path / "job-1/0/out/big.bin").read_bytes() == body

    with pytest.raises(RemoteError, match="do not match its hash"):
        download_job_outputs(ours, "job-2", tmp_path)
    assert not (tmp_path / "job-2/0/out/big.bin").exists()


def test_a_blob_changed_midway_is_refused(tmp_path: Path, https_container: tuple[Any, Any]) -> None:
    ours, setup = https_container
    size = 2 * block_size(1)
    setup.upload_blob("b.bin", os.urandom(size))
    etag = setup.get_blob_client("b.bin").get_blob_properties().etag.strip('"')
    setup.upload_blob("b.bin", os.urandom(size), overwrite=True)

    with pytest.raises(RemoteError, match="changed while it was downloaded"):
        download_in_ranges(
            ours.get_blob_client("b.bin"),
            tmp_path / "b.bin",
            size=size,
            etag=etag,
            getter=_getter(ours),
        )


def test_small_downloads_hold_no_big_buffer_per_thread(
    tmp_path: Path, https_container: tuple[Any, Any]
) -> None:
    """A download runs 32 threads: a 1 MB zeroed buffer each would cost 32 MB of memory
    before the first byte of a small result arrives."""
    import threading

    from superbatch.azure.blob_get import BUFFER_BYTES
    from superbatch.azure.download import DOWNLOAD_CONCURRENCY

    ours, setup = https_container
    setup.upload_blob("job-1/0/n.txt", b"7\n")
    getter = _getter(ours)
    warm = os.open(tmp_path / "warm", os.O_WRONLY | os.O_CREAT)  # imports, token: not counted
    getter.copy("job-1/0/n.txt", warm)
    os.close(warm)
    all_done = threading.Barrier(DOWNLOAD_CONCURRENCY + 1)
    release = threading.Event()

    def download(index: int) -> None:
        fd = os.open(tmp_path / f"n{index}.txt", os.O_WRONLY | os.O_CREAT)
        try:
            getter.copy("job-1/0/n.txt", fd)
        finally:
            os.close(fd)
        all_done.wait()
        release.wait()  # alive, with its thread's buffer, while the memory is read

    threads = [threading.Thread(target=download, args=(i,)) for i in range(DOWNLOAD_CONCURRENCY)]
    before = _rss()
    for thread in threads:
        thread.start()
    all_done.wait()
    grown = _rss() - before
    release.set()
    for thread in threads:
        thread.join()

    assert {p.read_bytes() for p in tmp_path.glob("n*.txt")} == {b"7\n"}
    assert grown < DOWNLOAD_CONCURRENCY * BUFFER_BYTES / 2, f"{grown / 2**20:.1f} MB"


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_listing_page_is_read_as_it_is_parsed(https_container: tuple[Any, Any]) -> None:
    """A page of 5,000 blobs parsed whole is a tree of some 14 MB: each blob's element is
    emptied once read, so a page costs little more than its bytes."""
    import tracemalloc
    from concurrent.futures import ThreadPoolExecutor

    ours, setup = https_container
    count = 3000
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: setup.upload_blob(f"job-1/{i}/n.txt", b"x"), range(count)))
    getter = _getter(ours)
    assert sum(1 for _ in getter.list("job-1/", page_size=10)) == count  # warm: not counted

    tracemalloc.start()
    try:
        listed = sum(1 for _ in getter.list("job-1/", metadata=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert listed == count
    assert peak < count * 1500, f"{peak / 1e6:.1f} MB"
