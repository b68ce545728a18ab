"""superbatch.Job builds the same job as a TOML spec, and runs it on a backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from superbatch import Job, LocalBackend
from superbatch.errors import SpecError
from superbatch.spec import load_spec
from tests.runner.conftest import write


def test_api_and_toml_give_the_same_job_id(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "params.csv": "seed\n1\n2\n",
            "job.toml": 'name = "pi"\ncommand = "echo {seed} > out.txt"\ntasks = "params.csv"\n'
            'outputs = ["out.txt"]\nretries = 1\ntimeout = "2m"\n',
        },
    )
    job = Job(
        "pi",
        command="echo {seed} > out.txt",
        outputs=["out.txt"],
        retries=1,
        timeout="2m",
        base_dir=tmp_path,
    )
    job.add_tasks({"seed": s} for s in (1, 2))
    assert job.resolve().job_id == load_spec(tmp_path / "job.toml").job_id


def test_api_run_yields_results(tmp_path: Path) -> None:
    job = Job("api", command="echo $((seed * 2)) > out.txt", outputs=["out.txt"])
    job.add_tasks({"seed": s} for s in range(3))
    run = job.run(
        LocalBackend(home=tmp_path / "state", container=False), results=tmp_path / "results"
    )
    assert run.ok
    seen = {task: [p.read_text() for p in files] for task, files in run.results()}
    assert seen == {"0": ["0\n"], "1": ["2\n"], "2": ["4\n"]}


def test_api_rejects_bad_input_with_spec_errors() -> None:
    job = Job("bad", command="echo {nope}")
    job.add_tasks([{"x": 1}])
    try:
        job.resolve()
    except SpecError as exc:
        assert "unknown placeholder {nope}" in str(exc)
    else:
        raise AssertionError("resolve() accepted an unknown placeholder")


def test_api_places_a_quoted_placeholder_exactly(tmp_path: Path) -> None:
    write(tmp_path, {"data/a b.txt": "x\n"})
    job = Job("quoted", command="cat \"{input}\" '{name}'", inputs="data/*.txt", base_dir=tmp_path)
    assert job.resolve().tasks[0].command == "cat \"data/a b.txt\" 'a b.txt'"


@pytest.mark.parametrize(
    ("aggregate", "outputs", "message"),
    [
        ("cat {input}", [], r"\[aggregate\]: unknown placeholder \{input\}"),
        ("  ", [], r"\[aggregate\]: command must be"),
        ("cat results/*/out.txt > total", ["../total"], r"\[aggregate\]: .*\.\."),
    ],
)
def test_api_checks_the_aggregate_step_like_toml(
    aggregate: str, outputs: list[str], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        Job("agg", command="true", aggregate=aggregate, aggregate_outputs=outputs)


def test_import_superbatch_job_stays_light() -> None:
    code = (
        "import sys; from superbatch import Job, LocalBackend; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'rich', 'typer', 'azure', 'pulumi'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_api_file_columns_match_the_toml_spec(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "job.toml": (
                'name = "pairs"\ncommand = "cat {left} {right}"\ntasks = "rows.csv"\n'
                'files = ["left", "right"]\n'
            ),
            "rows.csv": "left,right\na/x.txt,b/y.txt\n",
            "a/x.txt": "X",
            "b/y.txt": "Y",
        },
    )
    job = Job("pairs", command="cat {left} {right}", files=["left", "right"], base_dir=tmp_path)
    job.add_tasks([{"left": "a/x.txt", "right": "b/y.txt"}])
    resolved = job.resolve()
    assert resolved.job_id == load_spec(tmp_path / "job.toml").job_id
    assert [f.dest for f in resolved.tasks[0].inputs] == ["x.txt", "y.txt"]
    assert resolved.tasks[0].command == "cat x.txt y.txt"
    with pytest.raises(SpecError, match="'gone'"):
        Job("p", command="true", files=["gone"], base_dir=tmp_path).add_tasks(
            [{"left": "a/x.txt"}]
        ).resolve()
