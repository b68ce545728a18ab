"""An unreachable or hanging endpoint is one readable line, after bounded retries; transient
faults still pass. Through the real CLI, with the emulator and https Azurite behind the
loopback fault proxy (tests/support/faultproxy.py).

The retry budget is cut to 4 s here (``SUPERBATCH_RETRY_SECONDS``) to keep the suite fast;
``bench/bench_unreachable.py`` measures the real give-up times with the default budget.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import cli_env, superbatch, write
from tests.support.faultproxy import FaultProxy, closed_port_url

STORAGE_KEYS = ("blob_endpoint", "inputs_container_url", "outputs_container_url")
JOB = """\
name = "reach"
image = "docker.io/library/busybox:1.36"
inputs = "a.txt"
command = "cp {input} out.txt"
outputs = ["out.txt"]
"""


@pytest.fixture
def finished_job(tmp_path: Path, stack: EmulatedStack) -> Iterator[tuple[Path, str]]:
    project = tmp_path / "project"
    write(project, {"a.txt": "a\n", "job.toml": JOB})
    run = superbatch("run", "job.toml", "--outputs", str(stack.outputs_file), cwd=project)
    assert run.code == 0, run.stderr
    yield project, run.stdout.split(":", 1)[0]


def _outputs(stack: EmulatedStack, path: Path, **urls: str) -> str:
    values = json.loads(stack.outputs_file.read_text())
    values.update(urls)
    path.write_text(json.dumps(values))
    return str(path)


def _one_readable_line(stderr: str, *starts: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, stderr  # warnings about the spec (Docker Hub) may come first
    assert lines[0].startswith(starts), lines[0]
    for internal in ("urllib3", "ConnectionPool", "Max retries", "Traceback", "object at 0x"):
        assert internal not in lines[0], lines[0]
    return lines[0]


def test_unreachable_batch_or_storage_is_one_line(
    tmp_path: Path, stack: EmulatedStack, finished_job: tuple[Path, str]
) -> None:
    project, job_id = finished_job
    env = cli_env({"SUPERBATCH_RETRY_SECONDS": "4"})
    values = json.loads(stack.outputs_file.read_text())
    batch_down = _outputs(
        stack,
        tmp_path / "batch-down.json",
        batch_account_endpoint=closed_port_url(values["batch_account_endpoint"]),
    )
    status = superbatch("status", job_id, "--outputs", batch_down, cwd=project, env=env)
    assert status.code == 4
    line = _one_readable_line(status.stderr, "error: cannot reach Azure Batch (127.0.0.1:")
    assert f"to find job {job_id}: connection refused, retried for up to 4 s" in line

    hanging = {key: FaultProxy(values[key]) for key in STORAGE_KEYS}
    try:
        for proxy in hanging.values():
            proxy.set_mode("hang")
        storage_hangs = _outputs(
            stack,
            tmp_path / "storage-hangs.json",
            **{key: proxy.url(values[key]) for key, proxy in hanging.items()},
        )
        results = superbatch("results", job_id, "--outputs", storage_hangs, cwd=project, env=env)
        assert results.code == 4
        line = _one_readable_line(results.stderr, "error: cannot reach Azure Storage (127.0.0.1:")
        assert "no answer in time" in line
    finally:
        for proxy in hanging.values():
            proxy.stop()

    storage_down = _outputs(
        stack,
        tmp_path / "storage-down.json",
        **{key: closed_port_url(values[key]) for key in STORAGE_KEYS},
    )
    run = superbatch("run", "job.toml", "--new", "--outputs", storage_down, cwd=project, env=env)
    assert run.code == 4
    line = _one_readable_line(run.stderr, "error: cannot reach Azure Storage")
    assert "connection refused" in line


def test_transient_faults_still_pass(
    tmp_path: Path, stack: EmulatedStack, finished_job: tuple[Path, str]
) -> None:
    project, job_id = finished_job
    values = json.loads(stack.outputs_file.read_text())
    keys = ("batch_account_endpoint", *STORAGE_KEYS)
    proxies = {key: FaultProxy(values[key]) for key in keys}
    try:
        flaky = _outputs(
            stack,
            tmp_path / "flaky.json",
            **{key: proxy.url(values[key]) for key, proxy in proxies.items()},
        )
        for proxy in proxies.values():
            proxy.fail_next(2)  # the first two connections to each endpoint are reset
        stack.emulator.faults.add("get_job", "429", times=2, retry_after=0.5)
        status = superbatch("status", job_id, "--outputs", flaky, cwd=project)
        assert status.code == 0, status.stderr
        assert stack.emulator.faults.injected["get_job:429"] == 2  # Retry-After honoured
        results = superbatch("results", job_id, "--outputs", flaky, "--results", "again",
                             cwd=project)  # fmt: skip
        assert results.code == 0, results.stderr
        assert (project / "again" / job_id / "0" / "out.txt").read_text() == "a\n"
        for used in ("batch_account_endpoint", "outputs_container_url"):  # faults were met
            assert proxies[used].connections > 2, used
    finally:
        for proxy in proxies.values():
            proxy.stop()
