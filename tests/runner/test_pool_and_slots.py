"""Spec keys ``pool`` and ``slots``: checked up front, honoured by ``--local``, reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from superbatch import Job
from superbatch.errors import SpecError
from superbatch.spec import load_spec
from tests.runner.conftest import superbatch, write

# Each task notes when it started and ended (in ns), then sleeps long enough to overlap.
TIMED = (
    'name = "timed"\n'
    'command = "date +%s%N > start; sleep 0.4; date +%s%N > end"\n'
    'tasks = "rows.csv"\n'
    'outputs = ["start", "end"]\n'
)
ROWS = "n\n1\n2\n3\n4\n"


def _spans(project: Path, job_id: str) -> list[tuple[int, int]]:
    root = project / "results" / job_id
    return sorted(
        (int((d / "start").read_text()), int((d / "end").read_text()))
        for d in root.iterdir()
        if d.is_dir()
    )


def _most_at_once(spans: list[tuple[int, int]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize(("slots", "expected"), [(1, 4), (2, 2), (4, 1)])
def test_local_slots_count_against_parallel(project: Path, slots: int, expected: int) -> None:
    write(project, {"job.toml": TIMED + f"slots = {slots}\n", "rows.csv": ROWS})
    result = superbatch(
        "run", "job.toml", "--local", "--no-container", "--parallel", "4", "--json", cwd=project
    )
    assert result.code == 0, result.stderr
    assert _most_at_once(_spans(project, result.json()["job_id"])) == expected


def test_local_refuses_more_slots_than_parallel_before_running(project: Path) -> None:
    write(project, {"job.toml": TIMED + "slots = 3\n", "rows.csv": ROWS})
    result = superbatch(
        "run", "job.toml", "--local", "--no-container", "--parallel", "2", cwd=project
    )
    assert result.code == 2
    assert "slots = 3 is more than" in result.stderr and "--parallel 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "results").exists()


def test_local_accepts_and_reports_the_pool(project: Path) -> None:
    write(project, {"job.toml": TIMED + 'pool = "big"\n', "rows.csv": "n\n1\n"})
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 0, run.stderr
    assert run.json()["pool"] == "big"
    status = superbatch("status", run.json()["job_id"], "--local", cwd=project)
    assert "pool big: tasks run on this machine" in status.stdout


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('pool = "Big"', "pool must be the name of one of the stack's pools"),
        ("pool = 3", "pool must be the name"),
        ("slots = 0", "slots must be a whole number from 1 to 256"),
        ("slots = 257", "slots must be a whole number"),
        ('slots = "2"', "slots must be a whole number"),
        ("slots = true", "slots must be a whole number"),
    ],
)
def test_bad_pool_or_slots_is_one_line(tmp_path: Path, line: str, message: str) -> None:
    write(tmp_path, {"job.toml": TIMED + line + "\n", "rows.csv": ROWS})
    with pytest.raises(SpecError, match=message) as raised:
        load_spec(tmp_path / "job.toml")
    assert "\n" not in str(raised.value)


def test_pool_and_slots_change_the_job_id_only_when_given(tmp_path: Path) -> None:
    write(tmp_path, {"job.toml": TIMED, "rows.csv": ROWS})
    plain = load_spec(tmp_path / "job.toml")
    assert (plain.pool, plain.slots) == (None, 1)
    write(tmp_path, {"job.toml": TIMED + 'pool = "big"\nslots = 2\n'})
    placed = load_spec(tmp_path / "job.toml")
    assert (placed.pool, placed.slots) == ("big", 2)
    assert placed.job_id != plain.job_id
    write(tmp_path, {"job.toml": TIMED + 'pool = "default"\n'})
    assert load_spec(tmp_path / "job.toml").job_id != plain.job_id  # named: a new job


def test_the_python_api_takes_pool_and_slots(tmp_path: Path) -> None:
    job = Job("api", command="true", pool="gpu", slots=2, base_dir=tmp_path)
    resolved = job.add_tasks([{"n": 1}]).resolve()
    assert (resolved.pool, resolved.slots) == ("gpu", 2)
    with pytest.raises(SpecError, match="slots must be"):
        Job("api", command="true", slots=0)
