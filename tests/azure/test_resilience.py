"""Faults and interruptions: exactly N tasks, each input uploaded once, every result home."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from superbatch.errors import RemoteError
from superbatch.model import TaskState
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import noop_job
from tests.support.paths import REPO_ROOT
from tests.support.request_proxy import RequestProxy
from tests.support.tls import tls_material
from tests.support.waiting import until


def test_2000_tasks_survive_10_percent_faults(tmp_path: Path, wide_stack: EmulatedStack) -> None:
    faults = wide_stack.emulator.faults
    faults.add("*", "429", rate=0.034, retry_after=0.1)
    faults.add("*", "503", rate=0.034, retry_after=0.1)
    faults.add("*", "reset_after", rate=0.034)
    job = noop_job(2000)
    backend = wide_stack.backend()

    backend.submit(job)
    status = backend.wait(job.job_id, timeout=300)
    injected = dict(faults.injected)
    faults.clear()
    results = backend.results(job.job_id, tmp_path / "results")

    ids = [task["id"] for task in wide_stack.emulator.tasks(job.job_id)]
    assert sorted(ids, key=int) == [str(i) for i in range(2000)]
    assert status.counts.succeeded == 2000 and status.counts.failed == 0
    assert len(results) == 2000 and {r.state for r in results} == {TaskState.SUCCEEDED}
    assert all(
        {f.path for f in r.files} == {"_logs/stdout.txt", "_logs/stderr.txt"} for r in results
    )
    # every kind of fault really reached the runner during this job
    kinds = {key.split(":")[1] for key, count in injected.items() if count > 0}
    assert {"429", "503", "reset_after"} <= kinds, injected
    assert backend.last_submit is not None


def _start_child(
    stack: EmulatedStack,
    data: Path,
    count: int,
    submit_c: int,
    stage_c: int,
    env: dict[str, str] | None = None,
) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.azure.submit_child",
            str(stack.outputs_file),
            str(data),
            str(count),
            str(submit_c),
            str(stage_c),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(child: Any, condition: Any, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if child.poll() is not None:
            pytest.fail(f"runner ended before {what}: {child.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"runner never reached {what}")
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("kill_point", ["staging", "submission", "after-submission"])
def test_sigkilled_runner_resumes_to_exactly_n_tasks(
    tmp_path: Path, wide_stack: EmulatedStack, kill_point: str, request: pytest.FixtureRequest
) -> None:
    stack = wide_stack
    count = 150
    data = tmp_path / "data"
    inputs = stack.container(stack.outputs.inputs_container)
    emulator = stack.emulator
    emulator.hold = True  # tasks wait: the kill lands while the runner is still adding them
    if kill_point == "after-submission":
        emulator.faults.add("create_task_collection", "latency", latency=0.3)
    if kill_point == "submission":  # the first collection (100 tasks) lands, no later one
        emulator.faults.add("create_task_collection", "reset_before", after=1)

    def staged() -> int:
        return sum(1 for _ in inputs.list_blobs(name_starts_with="resume-1/"))

    def added() -> int:
        try:
            return len(emulator.tasks("resume-1"))
        except Exception:
            return 0

    # The runner to kill reaches storage through a proxy (its HTTPS_PROXY), which knows when
    # Azurite has answered every request the runner sent before it died (`serving`).
    proxy = RequestProxy(stack.azurite.port, tls_material())
    request.addfinalizer(proxy.close)
    via_proxy = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.connect_port}"}
    child = _start_child(stack, data, count, 1, 2, env=via_proxy)
    if kill_point == "staging":
        _kill_when(child, lambda: staged() >= 5, "the middle of staging")  # uploads are quick
        assert staged() < count
    elif kill_point == "submission":
        _kill_when(child, lambda: added() >= 100, "the middle of submission")
        assert added() == 100
        # waiting on it says what happened instead of polling forever for the missing tasks
        with pytest.raises(RemoteError, match="submission of resume-1 was interrupted"):
            stack.backend().wait("resume-1", timeout=120)
    else:
        _kill_when(child, lambda: added() >= count, "the end of submission")
    # A blob PUT sent in full just before the kill lands moments later: listed before that,
    # it counted as missing, and the re-run (which finds it) uploaded one blob fewer.
    until(lambda: proxy.serving == 0, timeout=120)
    before = {b.name: b.etag for b in inputs.list_blobs(name_starts_with="resume-1/")}
    emulator.faults.clear()

    rerun = _start_child(stack, data, count, 8, 32)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    emulator.hold = False
    backend = stack.backend()
    status = backend.wait("resume-1", timeout=300)
    backend.results("resume-1", tmp_path / "results")

    after = {b.name: b.etag for b in inputs.list_blobs(name_starts_with="resume-1/")}
    assert len(after) == count
    assert all(after[name] == etag for name, etag in before.items())  # never uploaded twice
    assert report["staging"]["uploaded"] == count - len(before)
    assert sorted((t["id"] for t in emulator.tasks("resume-1")), key=int) == [
        str(i) for i in range(count)
    ]
    assert status.counts.succeeded == count
    for index in (0, count // 2, count - 1):
        copy = tmp_path / "results" / "resume-1" / str(index) / "out" / "copy.txt"
        assert copy.read_text() == f"input {index}\n"
