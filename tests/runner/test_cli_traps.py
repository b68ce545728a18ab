"""Newcomer traps (issue 11), each through the real ``superbatch`` command."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.runner.conftest import job_id_of, popen_superbatch, superbatch, write

VALUES = ["hello world", 'it\'s $HOME `id` "q" \\n', "plain"]


def _csv(values: list[str]) -> str:
    quoted = ['"' + v.replace('"', '""') + '"' for v in values]
    return "label\n" + "\n".join(quoted) + "\n"


def test_placeholders_inside_larger_quoted_strings_give_the_value_exactly(project: Path) -> None:
    write(
        project,
        {
            "p.csv": _csv(VALUES),
            "job.toml": """\
                name = "quoting"
                tasks = "p.csv"
                command = '''printf '%s\\n' "run {label}" > out.txt
                printf '%s\\n' --name="{label}-x" --id={label}-y '[{label}]' >> out.txt
                printf '%s\\n' "$(printf '%s' {label})" >> out.txt  # it's a comment: {label}
                printf '%s|%s\\n' "$label" "$SUPERBATCH_INDEX" >> out.txt'''
                outputs = ["out.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert result.code == 0, result.stderr
    root = project / "results" / job_id_of(result)
    for index, value in enumerate(VALUES):
        assert (root / str(index) / "out.txt").read_text().splitlines() == [
            f"run {value}",
            f"--name={value}-x",
            f"--id={value}-y",
            f"[{value}]",
            value,
            f"{value}|{index}",
        ]


def test_every_task_gets_its_values_as_environment_variables(project: Path) -> None:
    write(
        project,
        {
            "data/a b.txt": "A",
            "data/c.dat": "C",
            "job.toml": """\
                name = "env"
                inputs = "data/*"
                command = '''printf '%s|%s|%s|%s' "$SUPERBATCH_INPUT" "$SUPERBATCH_NAME" \\
                  "$SUPERBATCH_STEM" "$SUPERBATCH_INDEX" > e.txt'''
                outputs = ["e.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert result.code == 0, result.stderr
    root = project / "results" / job_id_of(result)
    assert (root / "0" / "e.txt").read_text() == "data/a b.txt|a b.txt|a b|0"
    assert (root / "1" / "e.txt").read_text() == "data/c.dat|c.dat|c|1"


def test_a_tsv_file_is_read_as_tab_separated(project: Path) -> None:
    write(
        project,
        {
            "samples.tsv": "sample\tpath\nS 1\ta,b.fq\nS2\tc.fq\n",
            "job.toml": """\
                name = "tsv"
                tasks = "samples.tsv"
                command = "printf '%s|%s' {sample} \\"$path\\" > s.txt"
                outputs = ["s.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert result.code == 0, result.stderr
    root = project / "results" / job_id_of(result)
    assert (root / "0" / "s.txt").read_text() == "S 1|a,b.fq"
    assert (root / "1" / "s.txt").read_text() == "S2|c.fq"


def test_patterns_that_match_nothing_are_said_once_each_after_the_run(project: Path) -> None:
    write(
        project,
        {
            "p.csv": "n\n1\n2\n3\n",
            "job.toml": """\
                name = "unmatched"
                tasks = "p.csv"
                command = "mkdir -p out && echo {n} > out/{n}.txt && echo {n} > found.txt"
                outputs = ["out", "found.txt", "reslt.txt", "logs/*.log"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--no-container", cwd=project)
    assert result.code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: output pattern 'out' matched no file in any task (a folder? collect its "
        'files with "out/**/*")',
        "warning: output pattern 'reslt.txt' matched no file in any task (a folder? collect "
        'its files with "reslt.txt/**/*")',
        "warning: output pattern 'logs/*.log' matched no file in any task",
    ]
    as_json = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert len(json.loads(as_json.stdout)["unmatched_outputs"]) == 3


def test_a_task_never_changes_the_users_input(project: Path) -> None:
    """Inputs are cloned copy-on-write where the file system can, else copied: never linked."""
    original = "original\n" * 1000
    write(
        project,
        {
            "data/a.txt": original,
            "data/b.txt": original,
            "data/c.txt": original,
            "job.toml": """\
                name = "untouched"
                inputs = "data/*.txt"
                command = '''case {stem} in
                  a) echo changed >> {input} ;;
                  b) chmod u+w {input}; : > {input} ;;
                  c) printf x | dd of={input} conv=notrunc status=none ;;
                esac'''
                """,
        },
    )
    before = {name: os.stat(project / "data" / name) for name in ("a.txt", "b.txt", "c.txt")}
    result = superbatch("run", "job.toml", "--local", "--no-container", cwd=project)
    assert result.code == 0, result.stderr
    for name, stat in before.items():
        path = project / "data" / name
        assert path.read_text() == original
        assert os.stat(path).st_mode == stat.st_mode and os.stat(path).st_nlink == 1


def test_conventions_version_h_and_plurals(project: Path) -> None:
    from importlib.metadata import version

    assert superbatch("--version", cwd=project).stdout == f"superbatch {version('superbatch')}\n"
    short = superbatch("run", "-h", cwd=project)
    assert short.code == 0 and short.stdout.startswith("Usage: superbatch run [OPTIONS] {SPEC}")
    write(
        project,
        {
            "data/a.txt": "a",
            "job.toml": """\
                name = "one"
                inputs = "data/*.txt"
                command = "cp {input} out.txt"
                outputs = ["out.txt"]

                [aggregate]
                command = "cat results/*/out.txt > all.txt"
                outputs = ["all.txt"]
                """,
        },
    )
    run = superbatch("run", "job.toml", "--local", "--no-container", cwd=project)
    assert run.code == 0, run.stderr
    job_id = run.stdout.split(":", 1)[0]
    assert f"{job_id}: completed: 1 task, queued 0" in run.stdout
    results = superbatch("results", job_id, "--local", cwd=project)
    # 1 task (out.txt + 2 logs) and the aggregate (all.txt + 2 logs): 6 files
    assert results.stdout == f"1 task and the aggregate step: 6 files in results/{job_id}/\n"
    jobs = superbatch("jobs", "--local", cwd=project)
    assert " 1 task: queued 0" in jobs.stdout


def test_logs_of_a_task_that_has_not_run_say_so(project: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    write(
        project,
        {
            "p.csv": "n\n1\n2\n",
            "job.toml": f"""\
                name = "notrun"
                tasks = "p.csv"
                command = "while [ ! -e {release} ]; do sleep 0.05; done"
                """,
        },
    )
    runner = popen_superbatch("run", "job.toml", "--local", "--no-container", "--parallel", "1",
                              cwd=project)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list((project / ".superbatch" / "jobs").glob("*")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (job_id,) = [p.name for p in (project / ".superbatch" / "jobs").iterdir()]
        while (
            superbatch("status", job_id, "--local", "--json", cwd=project).json()["counts"][
                "running"
            ]
            != 1
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        logs = superbatch("logs", job_id, "1", "--local", cwd=project)
        assert logs.code == 5 and logs.stdout == ""
        assert logs.stderr == f"error: task 1 of job {job_id} has not run yet: no logs\n"
        assert superbatch("logs", job_id, "0", "--local", cwd=project).code == 0
    finally:
        release.touch()
        if runner.poll() is None:
            runner.wait(timeout=60)
        else:
            runner.send_signal(signal.SIGKILL)
    assert runner.returncode == 0


@pytest.mark.container
def test_a_missing_public_image_says_how_to_pull_it(project: Path) -> None:
    image = "docker.io/library/busybox:0.0-not-pulled"
    write(
        project,
        {
            "data/a.txt": "a",
            "job.toml": f'name = "pull"\nimage = "{image}"\ninputs = "data/*"\ncommand = "true"\n',
        },
    )
    result = superbatch("run", "job.toml", "--local", cwd=project)
    assert result.code == 0, result.stderr
    warning = re.search(r"\(pull it with `(docker|podman) pull (\S+)` to use it;", result.stderr)
    assert warning is not None and warning.group(2) == image, result.stderr
