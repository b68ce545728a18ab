"""Shared set-up for the benchmarks: https Azurite + the Batch emulator, tokens from the
real credential chain (a fake ``az`` on PATH, as in the tests), the stack outputs file.

Run from the repository root: ``uv run python -m bench.bench_submit`` (etc.).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class BenchStack:
    outputs_file: Path
    azurite: Any
    emulator: Any | None
    inputs_container: str
    outputs_container: str
    workdir: Path


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def bench_stack(
    *, emulator: bool = True, hold: bool = True, slots: int = 4
) -> Iterator[BenchStack]:
    from azure.storage.blob import BlobServiceClient
    from tests.azure.fake_az import install_fake_az
    from tests.support.azurite import start_azurite

    workdir = Path(tempfile.mkdtemp(prefix="superbatch-bench-"))
    install_fake_az(workdir / "bin")
    os.environ["PATH"] = f"{workdir / 'bin'}{os.pathsep}{os.environ['PATH']}"
    os.environ["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
    azurite = start_azurite(https=True)
    os.environ["REQUESTS_CA_BUNDLE"] = str(azurite.ca_bundle)
    batch = None
    try:
        if emulator:
            from tests.emulator.server import start_emulator

            batch = start_emulator(azurite=azurite, https=True, hold=hold, slots=slots)
        service = BlobServiceClient.from_connection_string(
            azurite.connection_string, **azurite.blob_client_kwargs()
        )
        suffix = uuid.uuid4().hex[:8]
        inputs, outputs = f"inputs-{suffix}", f"outputs-{suffix}"
        service.create_container(inputs)
        service.create_container(outputs)
        values = {
            "batch_account_endpoint": batch.url if batch else "https://127.0.0.1:1",
            "batch_account_name": batch.account_name if batch else "none",
            "pool_id": batch.pool_id if batch else "none",
            "storage_account_name": "devstoreaccount1",
            "blob_endpoint": azurite.blob_endpoint + "/",
            "inputs_container": inputs,
            "inputs_container_url": f"{azurite.blob_endpoint}/{inputs}",
            "outputs_container": outputs,
            "outputs_container_url": f"{azurite.blob_endpoint}/{outputs}",
            "registry_login_server": "localhost",
            "node_identity_resource_id": batch.identity_resource_id if batch else "none",
            "node_identity_client_id": "none",
            "resource_group": "none",
            "location": "loopback",
        }
        outputs_file = workdir / "outputs.json"
        outputs_file.write_text(json.dumps(values))
        yield BenchStack(outputs_file, azurite, batch, inputs, outputs, workdir)
    finally:
        if batch is not None:
            batch.stop()
        azurite.stop()


def timed_raw_requests(
    base_url: str,
    ca_bundle: str,
    method: str,
    requests: Sequence[tuple[str, bytes]],
    *,
    headers: dict[str, str],
    threads: int,
    accept: Callable[[int, bytes], bool],
) -> float:
    """Seconds to send pre-built ``requests`` (path, body) from ``threads`` threads, each on
    one keep-alive https connection: the ceiling a client library is measured against.

    Every answer must satisfy ``accept(status, body)``, else the run fails.
    """
    url = urllib.parse.urlsplit(base_url)
    host = url.hostname
    assert host, f"no host in {base_url}"
    context = ssl.create_default_context(cafile=ca_bundle)
    shards = [requests[i::threads] for i in range(threads)]

    def worker(mine: Sequence[tuple[str, bytes]]) -> None:
        connection = http.client.HTTPSConnection(host, url.port, context=context)
        for path, body in mine:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            if not accept(response.status, response.read()):
                raise RuntimeError(f"raw {method} answered {response.status}")
        connection.close()

    with ThreadPoolExecutor(threads) as pool:
        seconds, _ = timed(lambda: list(pool.map(worker, shards)))
    return seconds


def timed_raw_list_and_get(
    container_url: str,
    ca_bundle: str,
    prefix: str,
    *,
    headers: dict[str, str],
    threads: int,
    expected: int,
    dest: Path | None = None,
) -> float:
    """Seconds for the leanest client we can write to list ``prefix`` (pages of 5,000, names
    picked out of the XML with a regex, no parsing) and GET every blob, the GETs starting
    with the first page: pre-built headers, one keep-alive https connection per thread. The
    ceiling a download of results is measured against.

    With ``dest``, each blob ``a/b/c`` is also written to ``dest/a/b/c`` with the fewest
    system calls (a ``mkdir`` per new folder, then open, write, close: no temporary name,
    no mode or time to set): the ceiling for a download into the results layout on a disk.
    """
    import queue
    import re
    import threading

    url = urllib.parse.urlsplit(container_url)
    host = url.hostname
    assert host, f"no host in {container_url}"
    context = ssl.create_default_context(cafile=ca_bundle)
    names: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    got = [0] * threads
    failed: list[str] = []
    name_pattern = re.compile(rb"<Name>([^<]*)</Name>")
    marker_pattern = re.compile(rb"<NextMarker>([^<]+)</NextMarker>")

    made: set[str] = set()

    def write(name: str, body: bytes) -> None:
        assert dest is not None
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(dest / folder)
                made.add(folder)
        fd = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.write(fd, body)
        os.close(fd)

    def worker(slot: int) -> None:
        connection = http.client.HTTPSConnection(host, url.port, context=context)
        while (name := names.get()) is not None:
            connection.request("GET", f"{url.path}/{name}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                failed.append(f"GET {name}: {response.status}")
            if dest is not None:
                write(name, body)
            got[slot] += 1
        connection.close()

    def run() -> None:
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for thread in workers:
            thread.start()
        lister = http.client.HTTPSConnection(host, url.port, context=context)
        marker = b""
        while True:
            query = f"restype=container&comp=list&maxresults=5000&prefix={prefix}"
            if marker:
                query += f"&marker={urllib.parse.quote(marker.decode())}"
            lister.request("GET", f"{url.path}?{query}", headers=headers)
            response = lister.getresponse()
            page = response.read()
            if response.status != 200:
                failed.append(f"list: {response.status}")
                break
            for found in name_pattern.findall(page):
                names.put(found.decode())
            next_marker = marker_pattern.search(page)
            if not next_marker:
                break
            marker = next_marker.group(1)
        lister.close()
        for _ in workers:
            names.put(None)
        for thread in workers:
            thread.join()

    seconds, _ = timed(run)
    if failed or sum(got) != expected:
        raise RuntimeError(f"raw list+get: {sum(got)} of {expected}; {failed[:3]}")
    return seconds


def ratio_line(name: str, value: float, limit: str, ok: bool) -> str:
    return f"{name:<58} {value:10.2f}   {limit:<12} {'PASS' if ok else 'FAIL'}"


@contextmanager
def latency_proxy(target_port: int, one_way_delay: float) -> Iterator[int]:
    """A loopback TCP proxy adding ``one_way_delay`` to every chunk in each direction.

    Turns loopback (sub-millisecond round trips) into something like a laptop talking to an
    Azure region, so "concurrent vs sequential" measures what users see. TLS passes through.
    """
    import subprocess
    import sys

    # A process of its own: its threads never compete with the code measured for the GIL.
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.support.byte_proxy", str(target_port), str(one_way_delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        yield int(proxy.stdout.readline())
    finally:
        proxy.kill()
        proxy.wait()
