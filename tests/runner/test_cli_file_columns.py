"""CSV columns that name files (``files = [...]``): staged under their own names, checked first."""

from __future__ import annotations

from pathlib import Path

from tests.runner.conftest import job_id_of, superbatch, write

SPEC = """
name = "pairs"
command = "cat {left} {right} > joined.txt && echo $left $right > names.txt"
tasks = "pairs.csv"
files = ["left", "right"]
outputs = ["joined.txt", "names.txt"]
"""


def test_two_file_columns_are_staged_under_their_own_names(project: Path) -> None:
    write(
        project,
        {
            "job.toml": SPEC,
            "pairs.csv": "left,right,label\nreads/a 1.txt,refs/r.txt,x\nreads/b.txt,refs/r.txt,y\n",
            "reads/a 1.txt": "A1\n",
            "reads/b.txt": "B\n",
            "refs/r.txt": "R\n",
        },
    )
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 0, run.stderr
    results = project / "results" / job_id_of(run)
    assert (results / "0" / "joined.txt").read_text() == "A1\nR\n"
    assert (results / "0" / "names.txt").read_text() == "a 1.txt r.txt\n"
    assert (results / "1" / "joined.txt").read_text() == "B\nR\n"


def test_a_changed_file_in_a_column_is_a_new_job(project: Path) -> None:
    write(
        project,
        {
            "job.toml": SPEC,
            "pairs.csv": "left,right\nl.txt,r.txt\n",
            "l.txt": "1\n",
            "r.txt": "2\n",
        },
    )
    first = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    (project / "r.txt").write_text("3\n")
    second = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert first.code == second.code == 0
    assert job_id_of(first) != job_id_of(second)


def test_a_missing_file_is_one_line_naming_row_and_column(project: Path) -> None:
    write(
        project,
        {
            "job.toml": SPEC,
            "pairs.csv": "left,right\nl.txt,r.txt\nl.txt,gone.txt\n",
            "l.txt": "1\n",
            "r.txt": "2\n",
        },
    )
    run = superbatch("run", "job.toml", "--local", "--no-container", cwd=project)
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "row 2" in lines[0] and "column right" in lines[0] and "gone.txt" in lines[0]
    assert not (project / ".superbatch").exists()  # nothing created


def test_files_needs_known_columns_and_a_tasks_file(project: Path) -> None:
    write(
        project, {"job.toml": SPEC.replace('"right"]', '"rite"]'), "pairs.csv": "left,right\na,b\n"}
    )
    run = superbatch("run", "job.toml", "--local", cwd=project)
    assert run.code == 2 and "'rite'" in run.stderr
    write(project, {"job.toml": 'name = "x"\ncommand = "true"\ninputs = "*.csv"\nfiles = ["a"]\n'})
    run = superbatch("run", "job.toml", "--local", cwd=project)
    assert run.code == 2 and "tasks" in run.stderr


def test_two_columns_naming_files_of_the_same_name_are_refused(project: Path) -> None:
    write(
        project,
        {
            "job.toml": SPEC,
            "pairs.csv": "left,right\na/x.txt,b/x.txt\n",
            "a/x.txt": "1",
            "b/x.txt": "2",
        },
    )
    run = superbatch("run", "job.toml", "--local", cwd=project)
    assert run.code == 2 and "x.txt" in run.stderr
