"""The failure policy through the real command on --local: retry_on_exit, max_failures,
allow_failures; and the failed-task summary grouped by error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.conftest import superbatch, write

RETRY = {
    "p.csv": "code\n75\n2\n0\n",
    "job.toml": """\
        name = "retry"
        tasks = "p.csv"
        retries = 2
        retry_on_exit = [75]
        command = "echo try >&2; exit {code}"
        """,
}

MANY = {
    "p.csv": "n\n" + "".join(f"{i}\n" for i in range(200)),
    "job.toml": """\
        name = "broken"
        tasks = "p.csv"
        command = '''echo 'no such file: in.csv' >&2; exit 1'''
        max_failures = 5
        """,
}

ALLOW = {
    "p.csv": "n\n1\n2\n3\n",
    "job.toml": """\
        name = "partial"
        tasks = "p.csv"
        command = "echo {n} > out.txt; test {n} -ne 2"
        outputs = ["out.txt"]

        [aggregate]
        command = "ls results > seen.txt"
        outputs = ["seen.txt"]
        allow_failures = true
        """,
}


def test_retry_on_exit_retries_only_those_codes(project: Path) -> None:
    write(project, RETRY)
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 1
    failed = {t["task"]: (t["attempts"], t["failure"]) for t in run.json()["failed"]}
    assert failed == {"0": (3, "exit code 75 (after 3 attempts)"), "1": (1, "exit code 2")}


def test_max_failures_stops_a_job_of_200_failing_tasks_early(project: Path) -> None:
    write(project, MANY)
    run = superbatch("run", "job.toml", "--local", "--no-container", "--parallel", "2", cwd=project)
    assert run.code == 1
    status = superbatch("status", "last", "--local", "--json", cwd=project).json()
    assert status["state"] == "stopped"
    assert 6 <= status["counts"]["failed"] <= 8 and status["counts"]["queued"] >= 190
    assert "stopped early" in run.stdout
    failed = status["counts"]["failed"]
    assert f"{failed} tasks failed with: no such file: in.csv" in run.stdout  # one group
    assert run.stdout.count(" failed: exit code 1") == 3  # the first few of it, not all
    assert f"... and {failed - 3} more" in run.stdout
    again = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert again.json()["state"] == "stopped"  # a stopped job runs nothing more


def test_allow_failures_aggregates_over_the_tasks_that_succeeded(project: Path) -> None:
    write(project, ALLOW)
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 0, run.stdout
    data = run.json()
    assert data["counts"]["failed"] == 1 and data["aggregate"]["state"] == "succeeded"
    job_dir = Path(data["results_dir"])
    assert (job_dir / "_aggregate" / "seen.txt").read_text() == "0\n2\n"
    manifest = json.loads((job_dir / "manifest.json").read_text())
    failed = manifest["tasks"][1]
    assert failed["state"] == "failed"
    assert [f["path"] for f in failed["files"]] == ["_logs/stderr.txt", "_logs/stdout.txt"]


def test_policy_keys_are_checked_before_anything_runs(project: Path) -> None:
    write(project, {"a.txt": "x"})
    bad = {
        "retry_on_exit = [0]": "not an exit code from 1 to 255",
        "retry_on_exit = [1]\nno_retry_on_exit = [2]\nretries = 1": "not both",
        "retry_on_exit = [1]": "need retries = 1 or more",
        "max_failures = -1": "max_failures must be a whole number",
        '[aggregate]\ncommand = "true"\nallow_failures = "yes"': "allow_failures must be",
    }
    for extra, message in bad.items():
        (project / "job.toml").write_text(
            f'name = "p"\ninputs = "a.txt"\ncommand = "true"\n{extra}\n'
        )
        result = superbatch("run", "job.toml", "--local", cwd=project)
        assert result.code == 2 and message in result.stderr, (extra, result.stderr)
    assert not (project / ".superbatch").exists()
