"""Folders the system refuses: one line and exit 3, before any task runs; --debug traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import cli_env, job_id_of, superbatch, write

JOB = {
    "data/a.txt": "a\n",
    "job.toml": 'name = "paths"\ncommand = "cat {input}"\ninputs = "data/*"\n',
}

CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    (
        "results under /proc",
        ["--results", "/proc/superbatch-results"],
        {},
        "results folder /proc/superbatch-results/paths-",
    ),
    ("results is a file", ["--results", "afile"], {}, "afile is a file"),
    ("results below a file", ["--results", "afile/sub"], {}, "afile is a file"),
    ("state folder under /proc", [], {"SUPERBATCH_HOME": "/proc/superbatch-state"}, "state folder"),
    ("state folder is a file", [], {"SUPERBATCH_HOME": "afile"}, "afile: is a file, not"),
]


@pytest.mark.parametrize(
    ("extra_args", "env", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_unusable_folder_is_one_line_before_anything_runs(
    project: Path, extra_args: list[str], env: dict[str, str], message: str
) -> None:
    write(project, JOB)
    (project / "afile").write_text("not a folder\n")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    result = superbatch(
        "run", "job.toml", "--local", "--no-container", *extra_args,
        cwd=project,
        env=cli_env(env),
    )  # fmt: skip
    assert result.code == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.stderr
    # nothing created: no state (.superbatch/), no results
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_results_command_checks_its_folder_too(project: Path) -> None:
    write(project, JOB)
    ran = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert ran.code == 0, ran.stderr
    (project / "afile").write_text("not a folder\n")
    result = superbatch("results", job_id_of(ran), "--local", "--results", "afile", cwd=project)
    assert result.code == 3
    assert result.stderr.strip().splitlines() == [
        f"error: results folder afile/{job_id_of(ran)}: cannot be created: "
        f"{project / 'afile'} is a file"
    ]


def test_an_os_error_that_still_escapes_is_one_line_and_debug_shows_it(project: Path) -> None:
    write(project, JOB)
    ran = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert ran.code == 0, ran.stderr
    job_id = job_id_of(ran)
    task_folder = project / "results" / job_id / "0"
    for path in sorted(task_folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    task_folder.rmdir()
    task_folder.write_text("in the way\n")  # where task 0's folder goes: the system refuses
    result = superbatch("results", job_id, "--local", cwd=project)
    assert result.code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: results/{job_id}/0: "), lines
    assert task_folder.read_text() == "in the way\n"
    debug = superbatch("--debug", "results", job_id, "--local", cwd=project)
    assert debug.code != 0 and "Traceback" in debug.stderr and "Error" in debug.stderr
