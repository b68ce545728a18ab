"""Reconnect and resume: a killed run leaves nothing a re-run cannot finish."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import time
from pathlib import Path

import pytest

from tests.runner.conftest import CliResult, job_id_of, popen_superbatch, superbatch, write

DEADLINE = 120  # only a guard against hanging; never asserted on


def _counting_job(project: Path, counters: Path, release: Path) -> None:
    """Six tasks; each appends to its counter file. Tasks 2+ block until `release` exists."""
    write(
        project,
        {
            "params.csv": "n\n0\n1\n2\n3\n4\n5\n",
            "job.toml": f"""\
                name = "resume"
                tasks = "params.csv"
                env = {{ COUNTERS = "{counters}", RELEASE = "{release}" }}
                command = '''echo run >> $COUNTERS/{{n}}
                if [ {{n}} -ge 2 ]; then while [ ! -e $RELEASE ]; do sleep 0.05; done; fi
                echo done-{{n}} > out.txt'''
                outputs = ["out.txt"]
                [aggregate]
                command = "cat results/*/out.txt > all.txt"
                outputs = ["all.txt"]
                """,
        },
    )


def _wait_for(project: Path, job_id: str, *, succeeded: int, running: int) -> CliResult:
    """Poll `status` (another terminal) until the counts are reached."""
    deadline = time.monotonic() + DEADLINE
    while True:
        status = superbatch("status", job_id, "--local", "--json", cwd=project)
        if status.code == 0:
            counts = status.json()["counts"]
            if counts["succeeded"] >= succeeded and counts["running"] >= running:
                return status
        assert time.monotonic() < deadline, f"never reached: {status.stdout} {status.stderr}"
        time.sleep(0.2)


def test_killed_run_resumes_without_rerunning_succeeded_tasks(
    project: Path, tmp_path: Path
) -> None:
    counters, release = tmp_path / "counters", tmp_path / "release"
    counters.mkdir()
    _counting_job(project, counters, release)
    # The job id is known before anything runs: a bad --parallel fails after resolving.
    probe = superbatch("run", "job.toml", "--local", "--stack", "x", cwd=project)
    assert probe.code == 3 and not (project / ".superbatch").exists()

    runner = popen_superbatch("run", "job.toml", "--local", "--parallel", "2", cwd=project)
    try:
        job_id = _job_id_from_state(project)
        status = _wait_for(project, job_id, succeeded=2, running=2)
        assert status.json()["state"] == "active"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.communicate()
    assert runner.returncode == -signal.SIGKILL

    interrupted = superbatch("status", job_id, "--local", "--json", cwd=project)
    assert interrupted.json()["state"] == "interrupted"
    assert interrupted.json()["counts"] == {"queued": 4, "running": 0, "succeeded": 2, "failed": 0}
    assert not (project / "results" / job_id / "manifest.json").exists()

    release.touch()
    rerun = superbatch("run", "job.toml", "--local", "--parallel", "2", "--json", cwd=project)
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert job_id_of(rerun) == job_id
    runs = {p.name: p.read_text().count("run") for p in counters.iterdir()}
    assert runs["0"] == 1 and runs["1"] == 1  # succeeded before the kill: never run again
    assert all(runs[str(n)] in (1, 2) for n in range(2, 6))  # at most the killed attempt
    results = project / "results" / job_id
    assert (results / "_aggregate" / "all.txt").read_text().split() == [
        f"done-{n}" for n in range(6)
    ]
    manifest = json.loads((results / "manifest.json").read_text())
    assert [t["state"] for t in manifest["tasks"]] == ["succeeded"] * 6

    again = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert again.code == 0
    assert {p.name: p.read_text().count("run") for p in counters.iterdir()} == runs


def test_rerun_retries_only_failed_tasks_and_new_forces_a_fresh_job(
    project: Path, tmp_path: Path
) -> None:
    counters, flag = tmp_path / "counters", tmp_path / "fixed"
    counters.mkdir()
    write(
        project,
        {
            "params.csv": "n\n0\n1\n2\n",
            "job.toml": f"""\
                name = "rerun"
                tasks = "params.csv"
                command = '''echo run >> {counters}/{{n}}
                if [ {{n}} = 1 ] && [ ! -e {flag} ]; then echo half > stale.txt; exit 1; fi
                echo whole > good.txt'''
                outputs = ["*.txt"]
                """,
        },
    )
    first = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert first.code == 1 and [t["task"] for t in first.json()["failed"]] == ["1"]
    task_results = Path(first.json()["results_dir"]) / "1"
    assert (task_results / "stale.txt").read_text() == "half\n"
    (task_results / "my-notes.md").write_text("mine")  # a user's own file: never touched
    flag.touch()
    second = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert second.code == 0 and job_id_of(second) == job_id_of(first)
    assert sorted(p.name for p in task_results.iterdir()) == ["_logs", "good.txt", "my-notes.md"]
    manifest = json.loads(Path(second.json()["manifest"]).read_text())
    assert [f["path"] for f in manifest["tasks"][1]["files"]] == [
        "_logs/stderr.txt",
        "_logs/stdout.txt",
        "good.txt",
    ]
    assert {p.name: p.read_text().count("run") for p in counters.iterdir()} == {
        "0": 1,
        "1": 2,
        "2": 1,
    }
    fresh = superbatch("run", "job.toml", "--local", "--new", "--json", cwd=project)
    assert fresh.code == 0 and job_id_of(fresh) != job_id_of(first)
    assert {p.name: p.read_text().count("run") for p in counters.iterdir()} == {
        "0": 2,
        "1": 3,
        "2": 2,
    }


def test_wait_follows_a_running_job_from_another_terminal(project: Path, tmp_path: Path) -> None:
    counters, release = tmp_path / "counters", tmp_path / "release"
    counters.mkdir()
    _counting_job(project, counters, release)
    runner = popen_superbatch("run", "job.toml", "--local", "--parallel", "2", cwd=project)
    try:
        job_id = _job_id_from_state(project)
        _wait_for(project, job_id, succeeded=2, running=1)
        follower = popen_superbatch("wait", job_id, "--local", "--json", cwd=project)
        release.touch()
        out, err = follower.communicate(timeout=DEADLINE)
        assert follower.returncode == 0, err
        assert json.loads(out)["state"] == "completed"
        assert runner.wait(timeout=DEADLINE) == 0
    finally:
        if runner.poll() is None:
            os.kill(runner.pid, signal.SIGKILL)
            runner.communicate()
    # Every task ran exactly once: the follower did not run anything itself.
    assert {p.name: p.read_text().count("run") for p in counters.iterdir()} == {
        str(n): 1 for n in range(6)
    }


@pytest.mark.parametrize(("sig", "new"), [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_ctrl_c_or_term_kills_running_tasks_and_says_how_to_finish(
    project: Path, tmp_path: Path, sig: signal.Signals, new: bool
) -> None:
    """The hint names the job: after `run --new`, running the same command would start another."""
    counters, release = tmp_path / "counters", tmp_path / "release"
    counters.mkdir()
    _counting_job(project, counters, release)
    extra = ["--new", "--results", "my results"] if new else []
    runner = popen_superbatch("run", "job.toml", "--local", "--parallel", "2", *extra, cwd=project)
    try:
        job_id = _job_id_from_state(project)
        _wait_for(project, job_id, succeeded=2, running=2)
        deadline = time.monotonic() + DEADLINE
        while len(pids := _task_pids(project, job_id)) < 2:
            assert time.monotonic() < deadline, "tasks 2 and 3 never started"
            time.sleep(0.05)
        runner.send_signal(sig)
        _, err = runner.communicate(timeout=DEADLINE)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode == 130
    said = err.strip().splitlines()[-1]
    results_option = " --results 'my results'" if new else ""
    assert said == (
        f"error: interrupted: finish the job with `superbatch wait {job_id} --local --parallel 2`"
        f", then get its results with `superbatch results {job_id} --local{results_option}`"
    )
    for pid in pids:  # the blocked task shells were killed with their process groups
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")
    status = superbatch("status", job_id, "--local", "--json", cwd=project).json()
    assert status["state"] == "interrupted" and status["counts"]["succeeded"] == 2
    release.touch()
    wait_command, results_command = re.findall(r"`superbatch ([^`]*)`", said)
    finished = superbatch(*shlex.split(wait_command), "--json", cwd=project)  # resumes it
    assert finished.code == 0, finished.stderr
    assert finished.json()["state"] == "completed" and finished.json()["ok"]
    fetched = superbatch(*shlex.split(results_command), cwd=project)
    assert fetched.code == 0, fetched.stderr
    results_root = project / ("my results" if new else "results")
    assert (results_root / job_id / "_aggregate" / "all.txt").is_file()
    jobs = superbatch("jobs", "--local", "--json", cwd=project).json()
    assert [j["job_id"] for j in jobs] == [job_id]  # following the hint made no new job
    runs = {p.name: p.read_text().count("run") for p in counters.iterdir()}
    assert runs == {"0": 1, "1": 1, "2": 2, "3": 2, "4": 1, "5": 1}  # killed ones ran again


def _task_pids(project: Path, job_id: str) -> list[int]:
    events = project / ".superbatch" / "jobs" / job_id / "events.jsonl"
    started = [json.loads(line) for line in events.read_text().splitlines()]
    return [e["pid"] for e in started if e["event"] == "started" and e["task"] in ("2", "3")]


def _job_id_from_state(project: Path) -> str:
    deadline = time.monotonic() + DEADLINE
    jobs = project / ".superbatch" / "jobs"
    while not (jobs.is_dir() and any(jobs.iterdir())):
        assert time.monotonic() < deadline, "the run never recorded its job"
        time.sleep(0.05)
    return next(jobs.iterdir()).name


def test_an_event_after_a_torn_last_line_is_not_lost(project: Path, tmp_path: Path) -> None:
    """A run killed mid-write leaves half a line; the next event must not be glued onto it."""
    fixed = tmp_path / "fixed"
    write(
        project,
        {
            "params.csv": "n\n0\n1\n",
            "job.toml": f"""\
                name = "torn"
                tasks = "params.csv"
                command = "[ {{n}} = 0 ] || [ -e {fixed} ]"
                """,
        },
    )
    first = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert first.code == 1 and [t["task"] for t in first.json()["failed"]] == ["1"]
    events = project / ".superbatch" / "jobs" / job_id_of(first) / "events.jsonl"
    with events.open("a") as handle:
        handle.write('{"task":"0","event":"fini')  # what a kill -9 mid-write leaves
    fixed.touch()
    again = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert again.code == 0, again.stdout + again.stderr  # the reset of task 1 was recorded
    assert again.json()["counts"] == {"queued": 0, "running": 0, "succeeded": 2, "failed": 0}
