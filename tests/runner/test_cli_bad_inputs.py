"""Bad input: one clear line on stderr, a non-zero exit code, and nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import cli_env, superbatch, write

GOOD = {
    "data/a.txt": "a\n",
    "params.csv": "x,y\n1,2\n",
    "job.toml": 'name = "ok"\ncommand = "cat {input}"\ninputs = "data/*.txt"\n',
}


def spec(body: str, **files: str) -> dict[str, str]:
    return {**GOOD, **files, "job.toml": body}


CASES: list[tuple[str, dict[str, str], list[str], int, str]] = [
    ("missing spec file", GOOD, ["run", "nope.toml", "--local"], 2, "no such job spec file"),
    ("not TOML", spec('name = "x\n'), ["run", "job.toml", "--local"], 2, "not valid TOML"),
    (
        "bad name characters",
        spec('name = "my job"\ncommand = "true"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "may only hold letters, digits",
    ),
    (
        "name too long",
        spec(f'name = "{"n" * 54}"\ncommand = "true"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "at most 53",
    ),
    (
        "unknown key (typo)",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nouputs = ["a"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "unknown key 'ouputs'",
    ),
    (
        "missing command",
        spec('name = "x"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "missing required key 'command'",
    ),
    (
        "unknown placeholder",
        spec('name = "x"\ncommand = "cat {inptu}"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "unknown placeholder {inptu}",
    ),
    (
        "placeholder inside backquotes",
        spec('name = "x"\ncommand = "echo `cat {input}`"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "placeholder {input} is inside backquotes (write $(...) instead), where its value "
        'cannot be quoted exactly: use "$SUPERBATCH_INPUT" there',
    ),
    (
        "placeholder in a here-document",
        spec('name = "x"\ncommand = """cat <<EOF\n{y}\nEOF"""\ntasks = "params.csv"\n'),
        ["run", "job.toml", "--local"],
        2,
        "placeholder {y} is after a here-document (<<), where its value cannot be quoted "
        'exactly: use "$y" there',
    ),
    (
        "CSV column that would replace PATH",
        spec('name = "x"\ncommand = "true"\ntasks = "p.csv"\n', **{"p.csv": "PATH,y\n1,2\n"}),
        ["run", "job.toml", "--local"],
        2,
        "p.csv column 'PATH' would replace the task's $PATH environment variable (columns "
        "become variables): rename the column",
    ),
    (
        "CSV column named twice",
        spec('name = "x"\ncommand = "true"\ntasks = "p.csv"\n', **{"p.csv": "a,b,a\n1,2,3\n"}),
        ["run", "job.toml", "--local"],
        2,
        "tasks file p.csv has two columns named 'a'",
    ),
    (
        "output pattern that names a folder",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\noutputs = ["out/"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "output pattern 'out/' names a folder: collect its files with \"out/**/*\"",
    ),
    (
        "CSV placeholder not a column",
        spec('name = "x"\ncommand = "echo {z}"\ntasks = "params.csv"\n'),
        ["run", "job.toml", "--local"],
        2,
        "unknown placeholder {z}",
    ),
    (
        "input glob matches nothing",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*.csv"\n'),
        ["run", "job.toml", "--local"],
        2,
        "matched no files",
    ),
    (
        "inputs is a folder",
        spec('name = "x"\ncommand = "true"\ninputs = "data"\n'),
        ["run", "job.toml", "--local"],
        2,
        "inputs 'data' is a folder; one task per file in it is inputs = \"data/*\"",
    ),
    (
        "both inputs and tasks",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\ntasks = "params.csv"\n'),
        ["run", "job.toml", "--local"],
        2,
        "not both",
    ),
    (
        "neither inputs nor tasks",
        spec('name = "x"\ncommand = "true"\n'),
        ["run", "job.toml", "--local"],
        2,
        "say what the tasks are",
    ),
    (
        "CSV row with a missing column",
        spec('name = "x"\ncommand = "echo {x}"\ntasks = "p.csv"\n', **{"p.csv": "x,y\n1,2\n3\n"}),
        ["run", "job.toml", "--local"],
        2,
        "line 3 has 1 values; the header has 2",
    ),
    (
        "CSV file missing",
        spec('name = "x"\ncommand = "true"\ntasks = "missing.csv"\n'),
        ["run", "job.toml", "--local"],
        2,
        "tasks file missing.csv does not exist",
    ),
    (
        "absolute output pattern",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\noutputs = ["/etc/*"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "is absolute",
    ),
    (
        "output pattern escaping with ..",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\noutputs = ["out/../../x"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "escapes the working dir",
    ),
    (
        "bad duration",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\ntimeout = "30 minutes"\n'),
        ["run", "job.toml", "--local"],
        2,
        "is not a duration",
    ),
    (
        "negative retries",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nretries = -1\n'),
        ["run", "job.toml", "--local"],
        2,
        "out of range",
    ),
    (
        "env name invalid",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nenv = { "MY-VAR" = "1" }\n'),
        ["run", "job.toml", "--local"],
        2,
        "not a valid environment variable name",
    ),
    (
        "env overriding AZ_BATCH_",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nenv = { AZ_BATCH_JOB_ID = "1" }\n'),
        ["run", "job.toml", "--local"],
        2,
        "is reserved",
    ),
    (
        "shared file missing",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nshared = ["model.bin"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "shared file model.bin does not exist",
    ),
    (
        "shared folder",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nshared = ["data/"]\n'),
        ["run", "job.toml", "--local"],
        2,
        'shared data/ is a folder; share the files in it with a glob: shared = ["data/**/*"]',
    ),
    (
        "shared glob matches nothing",
        spec('name = "x"\ncommand = "true"\ninputs = "data/*"\nshared = ["lib/**/*"]\n'),
        ["run", "job.toml", "--local"],
        2,
        "shared 'lib/**/*' matched no files",
    ),
    (
        "image build of a folder that does not exist",
        GOOD,
        ["image", "build", "nonexist"],
        3,
        "folder nonexist does not exist",
    ),
    (
        "aggregate with a placeholder",
        spec(
            'name = "x"\ncommand = "true"\ninputs = "data/*"\n[aggregate]\ncommand = "m {input}"\n'
        ),
        ["run", "job.toml", "--local"],
        2,
        "unknown placeholder {input}",
    ),
    (
        "image without a tag",
        spec('name = "x"\nimage = "python"\ncommand = "true"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local"],
        2,
        "image 'python' has no tag",
    ),
    (
        "image tagged latest, even with --no-container",
        spec('name = "x"\nimage = "busybox:latest"\ncommand = "true"\ninputs = "data/*"\n'),
        ["run", "job.toml", "--local", "--no-container"],
        2,
        "'latest' is a moving tag",
    ),
    (
        "no backend chosen",
        GOOD,
        ["run", "job.toml"],
        3,
        "say where to run: --local (this machine), --stack NAME (Azure Batch, from a Pulumi "
        "stack) or --outputs FILE (Azure Batch, from `pulumi stack output --json`)",
    ),
    ("--parallel 0", GOOD, ["run", "job.toml", "--local", "--parallel", "0"], 3, "at least 1"),
    ("unknown engine", GOOD, ["run", "job.toml", "--local", "--engine", "lxc"], 3, "unknown"),
    (
        "--engine with --no-container",
        GOOD,
        ["run", "job.toml", "--local", "--engine", "podman", "--no-container"],
        3,
        "contradict",
    ),
    (
        "Azure outputs file missing",
        GOOD,
        ["run", "job.toml", "--outputs", "nope.json"],
        3,
        "stack outputs file not found",
    ),
    ("unknown option", GOOD, ["run", "job.toml", "--local", "--bogus"], 2, "No such option"),
    ("missing argument", GOOD, ["run", "--local"], 2, "Missing argument"),
    ("not a number", GOOD, ["run", "job.toml", "--local", "--parallel", "x"], 2, "--parallel"),
    ("status of unknown job", GOOD, ["status", "nojob-1", "--local"], 5, "no local job"),
    ("logs of unknown job", GOOD, ["logs", "nojob-1", "0", "--local"], 5, "no local job"),
    ("job id that is a path", GOOD, ["clean", "../..", "--local"], 5, "is not a job id"),
    ("clean unknown job", GOOD, ["clean", "nojob-1", "--local"], 5, "no local job"),
]


@pytest.mark.parametrize(
    ("files", "args", "exit_code", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_one_line_and_creates_nothing(
    project: Path, files: dict[str, str], args: list[str], exit_code: int, message: str
) -> None:
    write(project, files)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    result = superbatch(*args, cwd=project)
    assert result.code == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_debug_shows_the_traceback(project: Path) -> None:
    result = superbatch("--debug", "run", "nope.toml", "--local", cwd=project)
    assert result.code != 0
    assert "Traceback" in result.stderr and "SpecError" in result.stderr


def test_at_least_fifteen_distinct_bad_inputs() -> None:
    assert len({case[4] for case in CASES}) >= 15


@pytest.mark.parametrize("columns", [None, "40"])
def test_long_error_stays_one_line_when_stderr_is_not_a_terminal(
    project: Path, columns: str | None
) -> None:
    """rich would wrap at 80 columns (or $COLUMNS) without soft wrap: scripts grep this line."""
    name = "a-rather-long-directory-name-" * 4
    write(project, spec(f'name = "x"\ncommand = "true"\ninputs = "{name}/*.txt"\n'))
    env = cli_env({"COLUMNS": columns} if columns else None)
    if columns is None:
        env.pop("COLUMNS")
    result = superbatch("run", "job.toml", "--local", cwd=project, env=env)
    assert result.code == 2
    expected = f"error: job.toml: inputs '{name}/*.txt' matched no files"
    assert len(expected) > 100
    assert result.stderr.splitlines() == [expected]
