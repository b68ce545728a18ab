"""Rendering for people (rich: progress on stderr, summaries on stdout) and for scripts (JSON)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape

from superbatch.errors import ConfigError
from superbatch.model import (
    JobStatus,
    JobSummary,
    ProgressCallback,
    TaskCounts,
    TaskStatus,
)
from superbatch.run import RunOutcome

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def warning_line(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def error_line(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _describe(counts: TaskCounts) -> str:
    return (
        f"queued {counts.queued}  [cyan]running {counts.running}[/]  "
        f"[green]succeeded {counts.succeeded}[/]  [red]failed {counts.failed}[/]"
    )


PROGRESS_EVERY_ENV = "SUPERBATCH_PROGRESS_EVERY"  # seconds between lines in a log (not a tty)
PROGRESS_EVERY_DEFAULT = 30.0


def _progress_every() -> float:
    raw = os.environ.get(PROGRESS_EVERY_ENV, "")
    if not raw:
        return PROGRESS_EVERY_DEFAULT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{PROGRESS_EVERY_ENV}={raw!r}: give seconds between progress lines")
    return seconds


@contextlib.contextmanager
def progress_bar(job_id: str) -> Iterator[ProgressCallback]:
    """A live bar on stderr with queued / running / succeeded / failed counts.

    It appears on the first update, so errors raised before any task runs stay one line.
    When stderr is not a terminal (CI logs, a file), a bar cannot redraw: instead one plain
    line of counts every 30 s (``$SUPERBATCH_PROGRESS_EVERY``) while they change, so a long
    job shows signs of life in a log and a short one adds nothing to the final summary.
    """
    every = _progress_every()  # checked in a terminal too: the same command works in CI
    if not stderr.is_terminal:
        yield _progress_lines(job_id, every)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn(f"[bold]{escape(job_id)}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=stderr, transient=False)
    bar = progress.add_task("", total=None)
    started = False

    def update(counts: TaskCounts) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        progress.update(
            bar,
            total=counts.total,
            completed=counts.succeeded + counts.failed,
            description=_describe(counts),
        )

    try:
        yield update
    finally:
        if started:
            progress.stop()


def _progress_lines(job_id: str, every: float) -> ProgressCallback:
    """Backends report counts every few seconds, changed or not: a change that came too
    soon after the last line is printed by a later report, once ``every`` has passed."""
    started = last = time.monotonic()
    printed: TaskCounts | None = None

    def update(counts: TaskCounts) -> None:
        nonlocal last, printed
        now = time.monotonic()
        if counts != printed and now - last >= every:
            done = counts.succeeded + counts.failed
            stderr.print(
                f"{escape(job_id)}: {done}/{counts.total} done after {now - started:.0f} s: "
                + _describe(counts),
                soft_wrap=True,
            )
            last, printed = now, counts

    return update


def status_json(status: JobStatus) -> dict[str, Any]:
    return {
        "job_id": status.job_id,
        "state": status.state,
        "ok": status.ok,
        "counts": asdict(status.counts),
        "failed": [_task_json(t) for t in status.failed],
        "aggregate": _task_json(status.aggregate) if status.aggregate else None,
    }


def _task_json(task: TaskStatus) -> dict[str, Any]:
    return {
        "task": task.task_id,
        "state": str(task.state),
        "exit_code": task.exit_code,
        "attempts": task.attempts,
        "failure": task.failure,
        "stderr_tail": task.stderr_tail,
    }


def outcome_json(outcome: RunOutcome) -> dict[str, Any]:
    data = status_json(outcome.status)
    data["results_dir"] = str(outcome.results_dir.absolute())
    data["manifest"] = str(outcome.manifest.absolute())
    return data


def print_status(status: JobStatus) -> None:
    counts = status.counts
    colour = "green" if status.ok else ("red" if status.done else "cyan")
    stdout.print(
        f"[bold]{escape(status.job_id)}[/]: [{colour}]{status.state}[/]: {counts.total} tasks, "
        + _describe(counts)
    )
    for task in status.failed:
        _print_failure(task)
    agg = status.aggregate
    if agg is not None:
        if agg.state == "failed":
            _print_failure(agg)
        elif status.done and counts.failed:
            stdout.print("aggregate step not run: some tasks failed")
        else:
            stdout.print(f"aggregate step: {agg.state}")


def _print_failure(task: TaskStatus) -> None:
    reason = task.failure or "failed"
    stdout.print(f"[red]task {escape(task.task_id)} failed[/]: {escape(reason)}")
    if task.stderr_tail:
        for line in task.stderr_tail.splitlines():
            stdout.print(f"  [dim]|[/] {escape(line)}")


def print_outcome(outcome: RunOutcome) -> None:
    print_status(outcome.status)
    stdout.print(f"results: {escape(str(outcome.results_dir))}/ (manifest.json lists every file)")


def print_jobs(jobs: list[JobSummary]) -> None:
    if not jobs:
        stdout.print("no jobs")
        return
    id_width = max(len(job.job_id) for job in jobs)
    state_width = max(len(job.state) for job in jobs)
    created_width = max(len(job.created or "") for job in jobs)
    total_width = max(len(str(job.counts.total)) for job in jobs)
    for job in jobs:
        stdout.print(
            f"{escape(job.job_id):<{id_width}}  {job.state:<{state_width}}  "
            f"{job.created or '':<{created_width}}  "
            f"{job.counts.total:>{total_width}} tasks: {_describe(job.counts)}"
        )
