"""Progress reports: the local backend's counts reach the end, and log lines catch up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from superbatch import Job, LocalBackend
from superbatch.cli import render
from superbatch.model import TaskCounts


def test_the_last_report_holds_the_final_counts(tmp_path: Path) -> None:
    """Both slots ending within a tick of each other must not leave the bar one short
    (a slow renderer, here 5 ms a report, widens the moment between the two)."""
    job = Job("ticks", command="true {n}").add_tasks({"n": n} for n in range(40)).resolve()
    backend = LocalBackend(home=tmp_path / "state", parallel=2, container=False)
    for _ in range(5):  # fresh job each time: the two slots end at a different moment
        seen: list[TaskCounts] = []

        def slow(counts: TaskCounts, seen: list[TaskCounts] = seen) -> None:
            seen.append(counts)
            time.sleep(0.005)

        backend.submit(job)
        backend.wait(job.job_id, progress=slow)
        assert seen[-1] == TaskCounts(succeeded=40), seen[-3:]
        backend.clean(job.job_id)


def test_counts_are_reported_every_tick_even_unchanged(tmp_path: Path) -> None:
    """Renderers that print on a timer (log lines) rely on being called while nothing
    changes; Azure polls do the same."""
    job = Job("steady", command="sleep 1.2 # {n}").add_tasks([{"n": 1}]).resolve()
    backend = LocalBackend(home=tmp_path / "state", container=False)
    seen: list[TaskCounts] = []
    backend.submit(job)
    backend.wait(job.job_id, progress=seen.append)
    running = [c for c in seen if c == TaskCounts(running=1)]
    assert len(running) >= 5, seen  # one report per 0.1 s tick while the task runs


def test_a_change_too_soon_for_a_line_is_printed_by_a_later_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(render.time, "monotonic", lambda: clock[0])
    update = render._progress_lines("job-1", 30.0)

    def at(seconds: float, succeeded: int) -> None:
        clock[0] = 1000.0 + seconds
        update(TaskCounts(queued=10 - succeeded - 1, running=1, succeeded=succeeded))

    at(0, 0)
    at(30, 8)  # printed: 30 s since the start
    at(31, 9)  # too soon after that line
    at(45, 9)
    at(60, 9)  # the same counts, reported again: now the 9 is printed
    at(61, 9)
    at(95, 9)  # unchanged since the last line: nothing
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "8/10 done after 30 s",
        "9/10 done after 60 s",
    ], lines
