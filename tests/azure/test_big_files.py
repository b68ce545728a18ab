"""Big files through the real CLI: killed mid-upload and mid-download, a re-run moves only
the blocks that are missing (bytes counted by a proxy in front of Azurite)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from superbatch.azure.big_blobs import block_size
from superbatch.spec import load_spec
from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import cli_env, superbatch
from tests.support.byte_proxy import ByteProxy
from tests.support.waiting import until

SIZE = 256 << 20
BLOCK = block_size(SIZE)
BLOCKS = SIZE // BLOCK
SLACK = 6 << 20  # listings, task bodies, logs, TLS: small next to the blocks
IMAGE = "docker.io/library/busybox:1.36"


@pytest.fixture
def proxied(stack: EmulatedStack) -> Iterator[tuple[EmulatedStack, ByteProxy]]:
    """The stack with both job containers reached through a byte-counting proxy."""
    proxy = ByteProxy(stack.azurite.port)
    values = json.loads(stack.outputs_file.read_text())
    direct = f"127.0.0.1:{stack.azurite.port}"
    for key in ("inputs_container_url", "outputs_container_url", "blob_endpoint"):
        values[key] = values[key].replace(direct, f"127.0.0.1:{proxy.port}")
    stack.outputs_file.write_text(json.dumps(values))
    try:
        yield stack, proxy
    finally:
        proxy.close()


def start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "superbatch", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 240
    while not ready():
        assert process.poll() is None, "finished before it could be stopped midway"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def settled(count: Callable[[], int], proxy: ByteProxy | None = None) -> int:
    """The count once it stops moving. With ``proxy``, first wait until it has carried all
    the killed process sent: whole blocks sit in socket buffers at the kill and land as the
    proxy forwards them (at its delay: can be over a second, which a plateau of a second
    alone took for settled); then the server gets a moment to store the last of them."""
    if proxy is not None:
        until(lambda: proxy.connections == 0, timeout=240)
    last = -1
    while (now := count()) != last:
        last = now
        time.sleep(1.0)
    return now


def random_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as sink:
        for _ in range(SIZE // (8 << 20)):
            chunk = os.urandom(8 << 20)
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


def test_a_killed_upload_resumes_with_the_missing_blocks_only(
    tmp_path: Path, proxied: tuple[EmulatedStack, ByteProxy]
) -> None:
    stack, proxy = proxied
    root = tmp_path / "spec"
    root.mkdir()
    sha = random_file(root / "big.bin")
    (root / "one.txt").write_text("1\n")
    spec = root / "job.toml"
    spec.write_text(
        f'name = "bigup"\nimage = "{IMAGE}"\ninputs = "one.txt"\nshared = ["big.bin"]\n'
        'command = "sha256sum big.bin > sum.txt"\noutputs = ["sum.txt"]\n'
    )
    job_id = load_spec(spec).job_id
    blob = stack.container(stack.outputs.inputs_container).get_blob_client(
        f"{job_id}/shared/big.bin"
    )

    def staged() -> int:
        try:
            return len(blob.get_block_list("uncommitted")[1])
        except Exception:
            return 0

    args = ["run", str(spec), "--outputs", str(stack.outputs_file)]
    proxy.delay = 0.01  # about 6 MB/s per connection: the kill lands midway
    kill_when(start(args, tmp_path), lambda: staged() >= 8)
    have = settled(staged, proxy)  # the job is not created yet: only the runner used it
    assert 8 <= have < BLOCKS

    proxy.delay = 0.0
    proxy.reset()
    again = superbatch(*args, "--json", cwd=tmp_path)

    assert again.code == 0, again.stderr
    missing = (BLOCKS - have) * BLOCK
    assert missing <= proxy.up < missing + SLACK, (proxy.up, missing)
    assert blob.get_blob_properties().metadata["sha256"] == sha
    sums = tmp_path / "results" / job_id / "0" / "sum.txt"
    assert sums.read_text().split()[0] == sha  # what the node got is the file


def test_a_killed_download_resumes_with_the_missing_ranges_only(
    tmp_path: Path, proxied: tuple[EmulatedStack, ByteProxy]
) -> None:
    stack, proxy = proxied
    root = tmp_path / "spec"
    root.mkdir()
    (root / "one.txt").write_text("1\n")
    spec = root / "job.toml"
    spec.write_text(
        f'name = "bigdown"\nimage = "{IMAGE}"\ninputs = "one.txt"\n'
        f'command = "head -c {SIZE} /dev/urandom > big.out"\noutputs = ["big.out"]\n'
    )
    job_id = load_spec(spec).job_id
    results = tmp_path / "results" / job_id / "0"

    def ranges_done() -> int:
        logs = list(results.glob(".big.out.*.done")) if results.is_dir() else []
        return len(logs[0].read_text().splitlines()) if logs else 0

    args = ["--outputs", str(stack.outputs_file)]
    process = start(["run", str(spec), *args], tmp_path)
    deadline = time.monotonic() + 240
    while not list(
        stack.container(stack.outputs.outputs_container).list_blobs(
            name_starts_with=f"{job_id}/0/big.out"
        )
    ):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proxy.delay = 0.01
    kill_when(process, lambda: ranges_done() >= 8)
    have = settled(ranges_done)
    assert 8 <= have < BLOCKS

    proxy.delay = 0.0
    proxy.reset()
    again = superbatch("results", job_id, *args, cwd=tmp_path)

    assert again.code == 0, again.stderr
    missing = (BLOCKS - have) * BLOCK
    assert missing <= proxy.down < missing + SLACK, (proxy.down, missing)
    stored = stack.container(stack.outputs.outputs_container).download_blob(f"{job_id}/0/big.out")
    expected = hashlib.sha256(stored.readall()).hexdigest()
    assert hashlib.sha256((results / "big.out").read_bytes()).hexdigest() == expected
    assert not list(results.glob(".big.out.*"))  # no part or progress file left behind
