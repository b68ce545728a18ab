"""The runner's monitor on (emulated) Azure through the real command: policies Batch cannot
enforce (runner retries, allow_failures = N, max_failures of a detached job) and the pool's
cold-start re-arm, applied by the foreground `run`, the background watcher of `run --detach`,
and `wait` (which starts a watcher again when none is alive; one per job)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from superbatch.azure.watcher import alive, watch_dir, watcher_pid
from tests.azure.conftest import EmulatedStack
from tests.azure.test_cold_start import FORMULA, INTERVAL, evaluated_at, targets
from tests.runner.conftest import cli_env, superbatch, write
from tests.runner.test_cli_policy import RETRY
from tests.support.waiting import until

IMAGE = "docker.io/library/busybox:1.36"


def _image(files: dict[str, str]) -> dict[str, str]:
    return {**files, "job.toml": f'image = "{IMAGE}"\n' + files["job.toml"].lstrip()}


def _azure(stack: EmulatedStack) -> tuple[str, str]:
    return ("--outputs", str(stack.outputs_file))


def _folder(stack: EmulatedStack, job_id: str) -> Path:
    return watch_dir(stack.outputs.batch_account_endpoint, job_id)


def _kill_watcher(folder: Path) -> int:
    """SIGKILL the job's watcher (no clean-up, like a lost laptop) and wait until its lead
    is gone; its pid."""
    killed = watcher_pid(folder)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    until(lambda: not alive(folder))
    return killed


def _last_watcher(folder: Path) -> int:
    """The pid of the watcher that saw the job end: its log's last word on it, the job's
    state as it saw the end ("completed", or "terminating" if it ended it just then). The
    pid file names the last lead, which may be the `wait` that followed the job to its end.
    Waits for that line: the watcher writes it on its own time, after whoever followed."""

    def ended() -> list[str]:
        log = (folder / "watcher.log").read_text()
        return re.findall(r"^watcher (\d+): (?!stopped$)[a-z]+$", log, re.M)

    return int(until(ended)[-1])


def _ended(stack: EmulatedStack, job_id: str) -> bool:
    return stack.emulator.job(job_id)["state"] == "completed"


def test_retry_on_exit_on_azure_retries_only_the_listed_codes(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    write(tmp_path, _image(RETRY))
    run = superbatch("run", "job.toml", *_azure(stack), "--json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    failed = {t["task"]: (t["attempts"], t["failure"]) for t in run.json()["failed"]}
    assert failed == {"0": (3, "exit code 75 (after 3 attempts)"), "1": (1, "exit code 2")}
    assert stack.emulator.requests["reactivate_task"] == 2  # task 0, twice; never task 1
    bodies = stack.emulator.tasks(run.json()["job_id"])
    assert {t["constraints"]["maxTaskRetryCount"] for t in bodies} == {0}  # Batch retries none
    rows = superbatch("tasks", "last", *_azure(stack), "--json", cwd=tmp_path).json()
    assert [(r["task"], r["attempts"]) for r in rows] == [("0", 3), ("1", 1), ("2", 1)]


def test_a_detached_job_is_stopped_by_max_failures_with_no_wait(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    spec = (
        f'name = "broken"\nimage = "{IMAGE}"\ntasks = "p.csv"\nmax_failures = 3\n'
        "command = \"sleep 0.3; echo 'no such file' >&2; exit 1\"\n"
    )
    write(tmp_path, {"p.csv": "n\n" + "".join(f"{i}\n" for i in range(200)), "job.toml": spec})
    detached = superbatch("run", "job.toml", *_azure(stack), "--detach", "--json", cwd=tmp_path)
    assert detached.code == 0, detached.stderr
    job_id = detached.json()["job_id"]
    until(lambda: _ended(stack, job_id))  # nobody waits: the watcher stops it
    reason = stack.emulator.job(job_id)["executionInfo"]["terminateReason"]
    assert reason.startswith("SuperBatchStopped: more than 3 tasks failed")
    states = [t["state"] for t in stack.emulator.tasks(job_id)]
    assert states.count("completed") < 100  # stopped early: most never ran
    status = superbatch("status", job_id, *_azure(stack), "--json", cwd=tmp_path)
    assert status.json()["state"] == "stopped"


ALLOW_N = {
    "p.csv": "n\n1\n2\n3\n4\n",
    "job.toml": f"""\
        name = "partial"
        image = "{IMAGE}"
        tasks = "p.csv"
        command = "echo {{n}} > out.txt; test {{n}} -le 2"
        outputs = ["out.txt"]

        [aggregate]
        command = "ls results > seen.txt"
        outputs = ["seen.txt"]
        allow_failures = ALLOW
        """,
}


def _allow(allow: int) -> dict[str, str]:
    return {**ALLOW_N, "job.toml": ALLOW_N["job.toml"].replace("ALLOW", str(allow))}


def test_allow_failures_n_on_azure_both_ways_even_detached(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    write(tmp_path / "two", _allow(2))  # 2 tasks fail, 2 allowed: the aggregate runs
    run = superbatch("run", "two/job.toml", *_azure(stack), "--json", cwd=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    job_dir = Path(run.json()["results_dir"])
    assert (job_dir / "_aggregate" / "seen.txt").read_text() == "0\n1\n"

    write(tmp_path / "one", _allow(1))  # 2 tasks fail, 1 allowed: it does not run
    detached = superbatch("run", "one/job.toml", *_azure(stack), "--detach", "--json", cwd=tmp_path)
    job_id = detached.json()["job_id"]
    until(lambda: _ended(stack, job_id))  # no wait: the watcher decides
    assert "_aggregate" not in {t["id"] for t in stack.emulator.tasks(job_id)}
    status = superbatch("status", job_id, *_azure(stack), cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert "aggregate step not run: 2 tasks failed, more than allow_failures = 1" in status.stdout
    local = superbatch("status", job_id, *_azure(stack), "--json", cwd=tmp_path).json()
    assert local["aggregate"]["state"] == "queued" and local["counts"]["failed"] == 2


def _hold_and_detach(tmp_path: Path, stack: EmulatedStack) -> str:
    write(tmp_path, _image(RETRY))
    stack.emulator.hold = True  # accepted, not started
    detached = superbatch("run", "job.toml", *_azure(stack), "--detach", "--json", cwd=tmp_path)
    assert detached.code == 0, detached.stderr
    return str(detached.json()["job_id"])


def test_one_watcher_per_job(tmp_path: Path, stack: EmulatedStack) -> None:
    job_id = _hold_and_detach(tmp_path, stack)
    folder = _folder(stack, job_id)
    first = watcher_pid(folder)
    assert first is not None and alive(folder)
    second = subprocess.run(
        [sys.executable, "-m", "superbatch.azure.watcher", job_id, *_azure(stack)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0 and "another process leads job" in second.stdout
    again = superbatch("run", "job.toml", *_azure(stack), "--detach", cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert watcher_pid(folder) == first  # neither started a second one
    stack.emulator.hold = False
    waited = superbatch("wait", job_id, *_azure(stack), "--json", cwd=tmp_path)
    failed = {t["task"]: t["attempts"] for t in waited.json()["failed"]}
    assert failed == {"0": 3, "1": 1}


def test_a_killed_watcher_is_started_again_by_wait_and_the_job_ends_right(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    job_id = _hold_and_detach(tmp_path, stack)
    folder = _folder(stack, job_id)
    killed = _kill_watcher(folder)
    stack.emulator.hold = False
    # task 0 fails with 75, and nobody retries it: the job waits, active, for its watcher
    until(
        lambda: {t["id"]: t["state"] for t in stack.emulator.tasks(job_id)}.get("0") == "completed"
    )
    assert stack.emulator.job(job_id)["state"] == "active"
    assert stack.emulator.requests["reactivate_task"] == 0

    waited = superbatch("wait", job_id, *_azure(stack), "--json", cwd=tmp_path)
    assert waited.code == 1, waited.stderr
    assert _last_watcher(folder) != killed  # a new watcher led it to its end
    data = waited.json()
    assert data["state"] == "completed"
    failed = {t["task"]: (t["attempts"], t["failure"]) for t in data["failed"]}
    assert failed == {"0": (3, "exit code 75 (after 3 attempts)"), "1": (1, "exit code 2")}


def test_the_watcher_of_a_detached_job_rearms_the_idle_pool(
    tmp_path: Path, pool_stack: Any
) -> None:
    from tests.emulator.pools import PoolSpec
    from tests.support.clock_server import serve_clock

    stack: EmulatedStack = pool_stack(
        PoolSpec(formula=FORMULA, interval_seconds=INTERVAL, container=True)
    )
    write(
        tmp_path,
        _image(
            {
                "p.csv": "n\n1\n2\n",
                "job.toml": 'name = "cold"\ntasks = "p.csv"\ncommand = "echo {n}"\n',
            }
        ),
    )
    emulator = stack.emulator
    with serve_clock(emulator.clock) as url:
        env = cli_env({"SUPERBATCH_TEST_CLOCK": url})
        assert targets(stack) == (0, 0)
        started = emulator.clock.now()
        detached = superbatch(
            "run", "job.toml", *_azure(stack), "--detach", "--json", cwd=tmp_path, env=env
        )
        assert detached.code == 0, detached.stderr
        job_id = detached.json()["job_id"]
        until(lambda: targets(stack) == (2, 0))  # the CLI has long returned: the watcher did it
        assert emulator.requests["enable_pool_auto_scale"] == 1
        # well before the pool's own next evaluation (5 minutes): Batch's record of the
        # evaluation the re-arm made (the clock now would add the host time of this test)
        assert evaluated_at(stack) - started < INTERVAL
        waited = superbatch("wait", job_id, *_azure(stack), "--json", cwd=tmp_path, env=env)
    assert waited.code == 0, waited.stderr
    assert waited.json()["counts"]["succeeded"] == 2


def test_ctrl_c_in_wait_leaves_the_job_and_its_new_watcher_running(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    from tests.runner.conftest import popen_superbatch

    job_id = _hold_and_detach(tmp_path, stack)
    folder = _folder(stack, job_id)
    killed = _kill_watcher(folder)

    follower = popen_superbatch("wait", job_id, *_azure(stack), cwd=tmp_path)
    until(lambda: alive(folder) and watcher_pid(folder) not in (None, killed))
    follower.send_signal(signal.SIGINT)
    _, err = follower.communicate(timeout=60)
    assert follower.returncode == 130 and "the job keeps running" in err
    assert alive(folder) and stack.emulator.job(job_id)["state"] == "active"

    stack.emulator.hold = False  # the watcher alone retries and ends it
    until(lambda: _ended(stack, job_id), timeout=120)
    status = superbatch("status", job_id, *_azure(stack), "--json", cwd=tmp_path).json()
    assert {t["task"]: t["attempts"] for t in status["failed"]} == {"0": 3, "1": 1}


def test_ctrl_c_in_a_foreground_run_hands_the_job_to_a_watcher(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    """Batch goes on running the job after Ctrl-C: a watcher takes over the runner's part,
    here the retries by exit code (Batch itself retries none of these tasks)."""
    from tests.runner.conftest import popen_superbatch

    write(tmp_path, _image(RETRY))
    plan = superbatch("run", "job.toml", *_azure(stack), "--dry-run", "--json", cwd=tmp_path)
    job_id = plan.json()["job_id"]
    folder = _folder(stack, job_id)
    stack.emulator.hold = True  # accepted, not started: the run waits
    run = popen_superbatch("run", "job.toml", *_azure(stack), cwd=tmp_path)
    until(lambda: alive(folder) and len(stack.emulator.tasks(job_id)) == 3)  # run leads
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)

    assert run.returncode == 130, err
    assert "the job keeps running" in err and f"superbatch cancel {job_id}" in err, err
    assert f"superbatch results {job_id}" in err, err
    watcher = watcher_pid(folder)
    assert alive(folder) and watcher not in (None, run.pid), err  # not the run: it exited
    stack.emulator.hold = False  # the watcher alone retries task 0 and ends the job
    until(lambda: _ended(stack, job_id), timeout=120)
    assert _last_watcher(folder) == watcher
    status = superbatch("status", job_id, *_azure(stack), "--json", cwd=tmp_path).json()
    assert {t["task"]: t["attempts"] for t in status["failed"]} == {"0": 3, "1": 1}


def test_a_later_wait_rearms_the_idle_pool_when_the_watcher_is_gone(
    tmp_path: Path, pool_stack: Any
) -> None:
    from tests.emulator.pools import PoolSpec
    from tests.support.clock_server import serve_clock

    stack: EmulatedStack = pool_stack(
        PoolSpec(formula=FORMULA, interval_seconds=INTERVAL, container=True)
    )
    spec = 'name = "cold"\ntasks = "p.csv"\ncommand = "echo {n}"\n'
    write(tmp_path, _image({"p.csv": "n\n1\n2\n", "job.toml": spec}))
    emulator = stack.emulator
    # on wall time, the first watcher waits a real minute of sample lag before it probes
    detached = superbatch("run", "job.toml", *_azure(stack), "--detach", "--json", cwd=tmp_path)
    assert detached.code == 0, detached.stderr
    job_id = detached.json()["job_id"]
    folder = _folder(stack, job_id)
    killed = _kill_watcher(folder)
    assert emulator.requests["enable_pool_auto_scale"] == 0 and targets(stack) == (0, 0)

    with serve_clock(emulator.clock) as url:
        started = emulator.clock.now()
        env = cli_env({"SUPERBATCH_TEST_CLOCK": url})
        waited = superbatch("wait", job_id, *_azure(stack), "--json", cwd=tmp_path, env=env)
    assert waited.code == 0, waited.stderr
    assert waited.json()["counts"]["succeeded"] == 2
    assert emulator.requests["enable_pool_auto_scale"] == 1  # the new watcher re-armed it
    assert _last_watcher(folder) != killed  # a new watcher led it
    # not the pool's own schedule: the evaluation that asked for the nodes (Batch's record;
    # the clock at the end would add the host time the job then took to run)
    assert evaluated_at(stack) - started < INTERVAL


def test_clean_stops_the_jobs_watcher_before_it_deletes_the_job(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    job_id = _hold_and_detach(tmp_path, stack)
    folder = _folder(stack, job_id)
    pid = watcher_pid(folder)
    assert pid is not None and alive(folder)
    cleaned = superbatch("clean", job_id, *_azure(stack), "--yes", cwd=tmp_path)
    assert cleaned.code == 0, cleaned.stderr
    assert not alive(folder)  # stopped and let go before clean returned, not left to fail
    log = (folder / "watcher.log").read_text()
    assert f"watcher {pid}: stopped" in log and "error:" not in log, log
