"""``superbatch.Job`` takes exactly the TOML spec's keys, checked by the same code: a walk over
the spec's keys (each gives the same job both ways, each bad value the same message), and
jobs with a failure policy run through the API on this machine."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from superbatch import Job, LocalBackend
from superbatch.errors import SpecError
from superbatch.model import ResolvedJob
from superbatch.spec import AGGREGATE_KEYS, TOP_KEYS, load_spec
from tests.runner.conftest import write

FILES = {
    "data/a.txt": "a\n",
    "data/b.txt": "b\n",
    "lib.py": "print('lib')\n",
    "p.csv": "seed\n1\n2\n",
    "f.csv": "left\ndata/a.txt\n",
}
BASE: dict[str, Any] = {"name": "walk", "command": "cat {input}", "inputs": "data/*.txt"}
CSV: dict[str, Any] = {"name": "walk", "command": "echo {seed}", "tasks": "p.csv"}

# One spec per key, setting that key to something other than its default.
CASES: dict[str, dict[str, Any]] = {
    "name": {**BASE, "name": "other-name"},
    "image": {**BASE, "image": "busybox:1.36"},
    "command": {**BASE, "command": "wc -l {input} > out/{stem}.txt"},
    "inputs": {**BASE, "inputs": ["data/b.txt", "lib.py"]},
    "tasks": CSV,
    "files": {"name": "walk", "command": "cat {left}", "tasks": "f.csv", "files": ["left"]},
    "shared": {**BASE, "shared": ["lib.py"]},
    "outputs": {**BASE, "outputs": ["out/**", "*.json"]},
    "retries": {**BASE, "retries": 3},
    "timeout": {**BASE, "timeout": "1h30m"},
    "env": {**BASE, "env": {"MODE": "fast"}},
    "aggregate": {
        **BASE,
        "aggregate": {"command": "ls results", "outputs": ["total.txt"], "allow_failures": 2},
    },
    "retry_on_exit": {**BASE, "retries": 2, "retry_on_exit": [75, 3]},
    "no_retry_on_exit": {**BASE, "retries": 1, "no_retry_on_exit": [2]},
    "max_failures": {**BASE, "max_failures": 3},
    "pool": {**BASE, "pool": "big"},
    "slots": {**BASE, "slots": 2},
}


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans are spelled alike in TOML


def write_spec(root: Path, spec: dict[str, Any]) -> Path:
    top = {k: v for k, v in spec.items() if k != "aggregate"}
    text = "".join(f"{key} = {_toml(value)}\n" for key, value in top.items())
    if "aggregate" in spec:
        table = spec["aggregate"]
        text += "[aggregate]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
    path = root / "job.toml"
    path.write_text(text)
    return path


def both_ways(root: Path, spec: dict[str, Any]) -> tuple[ResolvedJob, ResolvedJob]:
    from_toml = load_spec(write_spec(root, spec))
    name, rest = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    return from_toml, Job(name, **rest, base_dir=root).resolve()


def test_every_spec_key_is_a_job_keyword_and_nothing_else() -> None:
    keywords = set(inspect.signature(Job).parameters) - {"base_dir", "aggregate_outputs"}
    assert keywords == set(TOP_KEYS)
    assert set(CASES) == set(TOP_KEYS)  # a new spec key needs its case here


def test_the_aggregate_case_sets_every_aggregate_key() -> None:
    assert set(CASES["aggregate"]["aggregate"]) == set(AGGREGATE_KEYS)


@pytest.mark.parametrize("key", TOP_KEYS)
def test_each_spec_key_gives_the_api_the_same_job(tmp_path: Path, key: str) -> None:
    write(tmp_path, FILES)
    from_toml, from_api = both_ways(tmp_path, CASES[key])
    assert from_api == from_toml  # every field: tasks, policy, aggregate, pool, ... and job id
    plain = load_spec(write_spec(tmp_path, BASE if key not in ("tasks", "files") else CSV))
    assert key in ("name", "tasks") or from_toml != plain  # the case does set something


# key -> a spec whose value for that key is bad. The TOML file and the API must say the
# same line (the spec's name aside), at the same step.
BAD: dict[str, dict[str, Any]] = {
    "name": {**BASE, "name": "no spaces"},
    "image": {**BASE, "image": "has space:1"},
    "command": {**BASE, "command": "  "},
    "inputs": {**BASE, "inputs": "nothing/*.txt"},
    "tasks": {**CSV, "tasks": "missing.csv"},
    "files": {**CSV, "files": ["gone"]},
    "shared": {**BASE, "shared": ["missing.py"]},
    "outputs": {**BASE, "outputs": ["../escape"]},
    "retries": {**BASE, "retries": 101},
    "timeout": {**BASE, "timeout": "soon"},
    "env": {**BASE, "env": {"AZ_BATCH_X": "1"}},
    "aggregate": {**BASE, "aggregate": {"command": "true", "allow_failures": "yes"}},
    "retry_on_exit": {**BASE, "retries": 1, "retry_on_exit": [0]},
    "no_retry_on_exit": {**BASE, "retry_on_exit": [1], "no_retry_on_exit": [2]},
    "max_failures": {**BASE, "max_failures": -1},
    "pool": {**BASE, "pool": "Big"},
    "slots": {**BASE, "slots": 0},
}
MORE_BAD = [
    {**BASE, "retry_on_exit": [1]},  # needs retries
    {**BASE, "aggregate": {"command": "true", "typo": 1}},
    {**BASE, "tasks": "p.csv"},  # inputs and tasks
    {**BASE, "files": ["left"]},  # files without tasks
    {**BASE, "env": {"N": 3}},
    {**BASE, "aggregate": {"command": "cat {input}"}},
]


def _error(call: Any, where: str) -> str:
    with pytest.raises(SpecError) as raised:
        call()
    message = str(raised.value)
    assert where in message and "\n" not in message
    return message.replace(where, "<spec>")


@pytest.mark.parametrize("spec", [*BAD.values(), *MORE_BAD], ids=[*BAD, *range(len(MORE_BAD))])
def test_a_bad_value_gets_the_same_line_from_the_api_as_from_toml(
    tmp_path: Path, spec: dict[str, Any]
) -> None:
    write(tmp_path, FILES)
    path = write_spec(tmp_path, spec)
    from_toml = _error(lambda: load_spec(path), str(path))
    name, rest = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    from_api = _error(lambda: Job(name, **rest, base_dir=tmp_path).resolve(), f"Job({name!r})")
    assert from_api == from_toml


def test_every_key_has_a_bad_value_case() -> None:
    assert set(BAD) == set(TOP_KEYS)


def test_python_values_are_read_as_toml_would_give_them(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    as_toml = load_spec(write_spec(tmp_path, CASES["retry_on_exit"]))
    spelled = Job(
        "walk",
        command="cat {input}",
        inputs=(p for p in [tmp_path / "data" / "a.txt", Path("data/b.txt")]),
        retries=2,
        retry_on_exit=range(3, 76, 72),  # 3, 75
        base_dir=tmp_path,
    ).resolve()
    assert spelled == as_toml


def test_rows_from_add_tasks_are_checked_like_csv_columns(tmp_path: Path) -> None:
    write(tmp_path, {"p.csv": "PATH\n/x\n", "q.csv": "seed\n1\n"})
    path = write_spec(tmp_path, {"name": "r", "command": "echo {PATH}", "tasks": "p.csv"})
    with pytest.raises(SpecError, match=r"column 'PATH' would replace the task's \$PATH"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"column 'PATH' would replace the task's \$PATH"):
        Job("r", command="echo {PATH}").add_tasks([{"PATH": "/x"}])
    with pytest.raises(SpecError, match=r"either tasks .* or add_tasks rows"):
        Job("r", command="echo {seed}", tasks="q.csv", base_dir=tmp_path).add_tasks([{"a": 1}])


def _run(job: Job, root: Path, parallel: int = 2) -> Any:
    backend = LocalBackend(home=root / "state", parallel=parallel, container=False)
    return job.run(backend, results=root / "results")


def test_api_retry_on_exit_retries_only_those_codes(tmp_path: Path) -> None:
    job = Job("retry", command="echo try >&2; exit {code}", retries=2, retry_on_exit=[75])
    run = _run(job.add_tasks({"code": c} for c in (75, 2, 0)), tmp_path)
    assert not run.ok
    failed = {t.task_id: (t.attempts, t.failure) for t in run.status.failed}
    assert failed == {"0": (3, "exit code 75 (after 3 attempts)"), "1": (1, "exit code 2")}


def test_api_no_retry_on_exit_fails_those_codes_at_once(tmp_path: Path) -> None:
    job = Job("noretry", command="exit {code}", retries=2, no_retry_on_exit=[2])
    run = _run(job.add_tasks({"code": c} for c in (3, 2)), tmp_path)
    assert {t.task_id: t.attempts for t in run.status.failed} == {"0": 3, "1": 1}


def test_api_max_failures_stops_the_job_early(tmp_path: Path) -> None:
    job = Job("broken", command="echo 'no such file' >&2; exit 1", max_failures=2)
    run = _run(job.add_tasks({"n": n} for n in range(60)), tmp_path, parallel=1)
    assert run.status.state == "stopped"
    assert 3 <= run.status.counts.failed <= 4 and run.status.counts.queued >= 50


def test_api_aggregate_allow_failures_runs_over_the_tasks_that_succeeded(tmp_path: Path) -> None:
    job = Job(
        "partial",
        command="echo {n} > out.txt; test {n} -ne 2",
        outputs=["out.txt"],
        aggregate={
            "command": "ls results > seen.txt",
            "outputs": ["seen.txt"],
            "allow_failures": 1,
        },
    )
    run = _run(job.add_tasks({"n": n} for n in (1, 2, 3)), tmp_path)
    assert run.ok and run.status.counts.failed == 1
    assert (run.results_dir / "_aggregate" / "seen.txt").read_text() == "0\n2\n"
    assert dict(run.results())["1"] == []  # a failed task keeps its logs, not its outputs
