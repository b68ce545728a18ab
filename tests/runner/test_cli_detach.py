"""run --detach, wait (Ctrl-C stops following only) and cancel, through the real command."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.runner.conftest import cli_env, popen_superbatch, superbatch, write
from tests.support.waiting import until

SLOW = {
    "p.csv": "n\n1\n2\n3\n4\n5\n",
    "job.toml": """\
        name = "slow"
        tasks = "p.csv"
        command = '''echo $$ > ../pid
        if [ {n} -le 2 ]; then echo quick {n} > out.txt; else sleep 120; echo late > out.txt; fi'''
        outputs = ["out.txt"]
        """,
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def test_detach_then_wait_and_ctrl_c_only_stops_following(project: Path) -> None:
    write(
        project,
        {
            "p.csv": "n\n1\n2\n3\n",
            "job.toml": 'name = "bg"\ntasks = "p.csv"\n'
            f"command = 'while [ ! -e {project / 'go'} ]; do sleep 0.1; done; echo {{n}} > o.txt'\n"
            'outputs = ["o.txt"]\n',
        },
    )
    detached = superbatch(
        "run", "job.toml", "--local", "--no-container", "--detach", "--json", cwd=project
    )
    assert detached.code == 0, detached.stderr
    data = detached.json()
    job_id = data["job_id"]
    assert data["commands"]["wait"] == f"superbatch wait {job_id} --local"

    def state() -> str:
        return str(superbatch("status", job_id, "--local", "--json", cwd=project).json()["state"])

    try:
        assert state() == "active"

        # Ctrl-C once `wait` follows the job: a progress line (one per report here) says it does.
        # (A fixed sleep was not enough on a loaded machine: a SIGINT that lands while Python is
        # still importing is a plain interrupt, "interrupted", or a KeyboardInterrupt traceback.)
        every = cli_env({"SUPERBATCH_PROGRESS_EVERY": "0.001"})
        follower = popen_superbatch("wait", job_id, "--local", cwd=project, env=every)
        assert follower.stderr is not None
        first = follower.stderr.readline()  # blocks until the line (pytest-timeout guards it)
        assert first.startswith(f"{job_id}: 0/3 done"), first
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=60)
        assert follower.returncode == 130 and "the job keeps running" in err
        assert state() == "active"
    finally:  # the tasks wait for this file: never leave them looping after a failure
        (project / "go").touch()
    waited = superbatch("wait", "last", "--local", "--json", cwd=project)
    assert waited.code == 0 and waited.json()["counts"]["succeeded"] == 3
    results = superbatch("results", job_id, "--local", cwd=project)
    assert results.code == 0
    assert (project / "results" / job_id / "2" / "o.txt").read_text() == "3\n"


def test_cancel_mid_run_stops_tasks_and_keeps_what_finished(project: Path) -> None:
    write(project, SLOW)
    args = ("--local", "--no-container")
    detached = superbatch(
        "run", "job.toml", *args, "--parallel", "2", "--detach", "--json", cwd=project
    )
    job_id = detached.json()["job_id"]
    node = project / ".superbatch" / "node" / "workitems" / job_id / "job-1"

    def two_running() -> list[int] | None:
        rows = superbatch("tasks", job_id, "--local", "--json", cwd=project).json()
        states = [r["state"] for r in rows]
        if states[:2] == ["succeeded", "succeeded"] and states.count("running") == 2:
            return [
                int((node / r["task"] / "pid").read_text()) for r in rows if r["state"] == "running"
            ]
        return None

    pids = until(two_running)
    assert all(_alive(pid) for pid in pids)
    cancelled = superbatch("cancel", job_id, "--local", "--json", cwd=project)
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.json()["state"] == "cancelled"
    assert not any(_alive(pid) for pid in pids)  # no task process left
    runner_log = (project / ".superbatch" / "jobs" / job_id / "runner.log").read_text()
    assert "stopped" in runner_log

    status = superbatch("status", job_id, "--local", "--json", cwd=project).json()
    assert (status["state"], status["counts"]["succeeded"], status["counts"]["queued"]) == (
        "cancelled", 2, 3,
    )  # fmt: skip
    fetched = superbatch("results", job_id, "--local", "--json", cwd=project)
    assert fetched.code == 0
    assert (project / "results" / job_id / "1" / "out.txt").read_text() == "quick 2\n"
    assert [t["state"] for t in fetched.json()["tasks"]][:3] == ["succeeded", "succeeded", "queued"]
    again = superbatch("run", "job.toml", *args, "--json", cwd=project)  # runs nothing more
    assert again.json()["state"] == "cancelled" and again.code == 1


def test_a_runner_that_finishes_before_it_is_seen_is_not_an_error(project: Path) -> None:
    """`wait` starts a runner and looks for it; a runner that already ran the job to its end
    (it found nothing left, or its last tasks were quick) has stopped with "completed": that
    is the job done, not a failure (seen in CI: `wait` after Ctrl-C said "stopped")."""
    from superbatch.local.backend import LocalBackend
    from superbatch.local.runner import start_runner

    write(
        project,
        {"job.toml": 'name = "quick"\ncommand = "true"\ntasks = "t.csv"\n', "t.csv": "n\n1\n"},
    )
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 0, run.stderr
    backend = LocalBackend(home=project / ".superbatch", container=False)
    store = backend._existing_store(run.json()["job_id"])
    pid = start_runner(backend, store)  # the runner finds the job done and exits at once

    log = (store.dir / "runner.log").read_text().strip().splitlines()
    assert log[-1] == f"runner {pid}: completed"
