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

from superbatch.backends import BackendOptions
from superbatch.errors import ConfigError
from superbatch.model import (
    JobStatus,
    JobSummary,
    PoolState,
    ProgressCallback,
    TaskCounts,
    TaskInfo,
    TaskStatus,
    describe_exit,
)
from superbatch.plan import Plan
from superbatch.run import RunOutcome

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def warning_line(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def error_line(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def plural(count: int, noun: str) -> str:
    """``1 task``, ``3 tasks``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
        yield _WithPool(_progress_lines(job_id, every))
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

    def show(line: str) -> None:  # above the live bar, which stays at the bottom
        progress.console.print(line, soft_wrap=True)

    try:
        yield _WithPool(update, show)
    finally:
        if started:
            progress.stop()


@contextlib.contextmanager
def stuck_as_json(json: bool) -> Iterator[None]:
    """With ``--json``, a stuck job (exit 7) still prints its status, pool included."""
    from superbatch.errors import JobStuckError

    try:
        yield
    except JobStuckError as stuck:
        if json and isinstance(stuck.status, JobStatus):
            print_json({**status_json(stuck.status), "stuck": str(stuck)})
        raise


class _WithPool:
    """A progress callback that also prints each new pool line (``PoolProgress``): "waiting
    for nodes: pool p 0 -> 2 ...", nodes starting / idle, or what stops them, once each."""

    def __init__(self, counts: ProgressCallback, show: Any = None) -> None:
        self._counts = counts
        self._show = show or (lambda line: stderr.print(line, soft_wrap=True))
        self._last: str | None = None

    def __call__(self, counts: TaskCounts) -> None:
        self._counts(counts)

    def pool(self, state: PoolState) -> None:
        if state.shape().line() != self._last:  # a line per change, not per countdown
            self._last = state.shape().line()
            colour = "red" if state.problem else "cyan"
            self._show(f"[{colour}]{escape(state.line())}[/]")


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
        "pool": status.pool,
        "nodes": status.nodes,
        "pool_state": _pool_json(status.pool_state) if status.pool_state else None,
    }


def _pool_json(pool: PoolState) -> dict[str, Any]:
    return {**asdict(pool), "line": pool.line()}


def _task_json(task: TaskStatus) -> dict[str, Any]:
    return {
        "task": task.task_id,
        "label": task.label,
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
    data["unmatched_outputs"] = list(outcome.unmatched_outputs)
    return data


def print_status(status: JobStatus) -> None:
    counts = status.counts
    colour = "green" if status.ok else ("red" if status.done else "cyan")
    stdout.print(
        f"[bold]{escape(status.job_id)}[/]: [{colour}]{status.state}[/]: "
        f"{plural(counts.total, 'task')}, " + _describe(counts)
    )
    if status.pool is not None:
        note = f": {status.nodes}" if status.nodes else ""
        problem = status.pool_state is not None and status.pool_state.problem
        colour = "red" if problem else "default"
        stdout.print(f"[{colour}]pool {escape(status.pool)}{escape(note)}[/]")
    if status.state == "stopped":
        stdout.print("[red]stopped early[/]: more tasks failed than max_failures allows")
    elif status.state == "cancelled":
        stdout.print("cancelled: tasks that had not finished never will")
    print_failure_groups(status.job_id, status.failed)
    agg = status.aggregate
    if agg is not None:
        if agg.state == "failed":
            _print_failure(agg)
        elif status.done and agg.state != "succeeded" and 0 < status.allow_failures < counts.failed:
            stdout.print(
                f"aggregate step not run: {counts.failed} tasks failed, more than "
                f"allow_failures = {status.allow_failures}"
            )
        elif status.done and agg.state != "succeeded" and counts.failed:
            stdout.print("aggregate step not run: some tasks failed")
        elif status.done and agg.state != "succeeded":
            stdout.print("aggregate step not run")
        else:
            stdout.print(f"aggregate step: {agg.state}")


def _named(task_id: str, label: str) -> str:
    return f"task {task_id} ({label})" if label else f"task {task_id}"


def _print_failure(task: TaskStatus, *, tail: bool = True, indent: str = "") -> None:
    reason = task.failure or "failed"
    name = escape(_named(task.task_id, task.label))
    stdout.print(f"{indent}[red]{name} failed[/]: {escape(reason)}")
    if tail and task.stderr_tail:
        for line in task.stderr_tail.splitlines():
            stdout.print(f"{indent}  [dim]|[/] {escape(line)}")


FAILURES_SHOWN_PER_GROUP = 3


def print_failure_groups(job_id: str, failed: tuple[TaskStatus, ...]) -> None:
    """Failed tasks grouped by their last stderr line (else their reason), biggest group
    first; the first few of each group, with the first one's stderr tail."""
    from superbatch.failures import group_failures

    for group in group_failures(failed):
        if len(failed) > 1:
            count = len(group.tasks)
            stdout.print(
                f"[red]{count} task{'s' if count > 1 else ''} failed with[/]: {escape(group.key)}"
            )
        indent = "  " if len(failed) > 1 else ""
        for index, task in enumerate(group.tasks[:FAILURES_SHOWN_PER_GROUP]):
            _print_failure(task, tail=index == 0, indent=indent)
        hidden = len(group.tasks) - FAILURES_SHOWN_PER_GROUP
        if hidden > 0:
            stdout.print(
                f"{indent}... and {hidden} more (`superbatch tasks {escape(job_id)} "
                "--state failed` lists them)"
            )


def print_outcome(outcome: RunOutcome) -> None:
    print_status(outcome.status)
    stdout.print(f"results: {escape(str(outcome.results_dir))}/ (manifest.json lists every file)")
    print_unmatched(outcome)


def print_unmatched(outcome: RunOutcome) -> None:
    """Output patterns that matched nothing: once each, on stderr, after the run."""
    for line in outcome.unmatched_outputs:
        warning_line(line)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def task_info_json(task: TaskInfo) -> dict[str, Any]:
    return {
        "task": task.task_id,
        "label": task.label,
        "state": str(task.state),
        "attempts": task.attempts,
        "exit_code": task.exit_code,
        "exit": describe_exit(task.exit_code) if task.exit_code is not None else None,
        "failure": task.failure,
        "duration_seconds": task.duration,
        "node": task.node,
        "start": _iso(task.start),
        "end": _iso(task.end),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def print_tasks(tasks: list[TaskInfo]) -> None:
    if not tasks:
        stdout.print("no tasks")
        return
    header = ("TASK", "STATE", "ATTEMPTS", "EXIT", "DURATION", "NODE", "LABEL")
    rows = [
        (
            t.task_id,
            str(t.state),
            str(t.attempts),
            describe_exit(t.exit_code),
            _clock(t.duration),
            t.node or "-",
            t.label,
        )
        for t in tasks
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        stdout.print(escape("  ".join([*cells, row[-1]]).rstrip()))


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
            f"{job.counts.total:>{total_width}} {'task' if job.counts.total == 1 else 'tasks'}"
            f": {_describe(job.counts)}"
        )


def plan_json(plan: Plan) -> dict[str, Any]:
    data = asdict(plan)
    data["preview"] = [asdict(t) for t in plan.preview]
    data["created"] = False  # a dry run never creates anything
    return data


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def print_plan(plan: Plan) -> None:
    """The dry run, for people: what would run, move and cost; nothing was created."""
    agg = " + the aggregate step" if plan.aggregate else ""
    stdout.print(f"[bold]{escape(plan.job_id)}[/] on {plan.backend}: dry run, nothing created")
    state = "exists: a run adds" if plan.exists else "new: a run adds"
    noun = "runs" if plan.backend == "local" else "adds"
    state = state.replace("adds", noun)
    stdout.print(f"tasks: {plan.tasks}{agg} (job {state} {plan.tasks_to_add})")
    width = max(len(t.task_id) for t in plan.preview) if plan.preview else 1
    for task in plan.preview:
        label = f"  {escape(task.label)}" if task.label else ""
        stdout.print(f"  {task.task_id:<{width}}{label}  [dim]{escape(task.command)}[/]")
    if plan.tasks > len(plan.preview):
        stdout.print(f"  ... and {plan.tasks - len(plan.preview)} more")
    inputs = f"inputs: {plan.files} files, {_size(plan.bytes_total)}"
    if plan.backend != "local":
        inputs += (
            f"; to upload: {plan.files_new} files, {_size(plan.bytes_new)} "
            f"(already staged: {plan.files_staged})"
        )
    stdout.print(inputs)
    if plan.requests:
        stdout.print(
            "requests: " + ", ".join(f"{name} {count}" for name, count in plan.requests.items())
        )
    if plan.nodes is not None:
        stdout.print(f"nodes: up to {plan.nodes} ({plan.slots_per_node} task slots each)")
    else:
        stdout.print(f"parallel: {plan.slots_per_node} tasks at a time")
    if plan.estimate_seconds is not None:
        line = f"estimate: {_clock(plan.estimate_seconds)} per task"
        if plan.node_hours is not None:
            line += f" -> {plan.node_hours:.2f} node-hours"
        if plan.cost is not None:
            line += (
                f", cost {plan.cost:.2f} at {plan.price_per_node_hour:g} per node-hour "
                f"({plan.price_source})"
            )
        if plan.wall_seconds is not None:
            line += f"; about {_clock(plan.wall_seconds)} from start to end"
        stdout.print(line)


def print_detached(job_id: str, options: BackendOptions, *, json: bool) -> None:
    """The job id and the commands that follow it (``run --detach``)."""
    commands = {
        "wait": options.command("wait", job_id),
        "status": options.command("status", job_id),
        "tasks": options.command("tasks", job_id),
        "logs": options.command("logs", job_id, "TASK", "-f"),
        "cancel": options.command("cancel", job_id),
    }
    if json:
        print_json({"job_id": job_id, "detached": True, "commands": commands})
        return
    stdout.print(f"{escape(job_id)}: submitted; it runs without this terminal")
    for name, command in commands.items():
        stdout.print(f"  {name:<7}{escape(command)}")
