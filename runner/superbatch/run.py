"""The core of ``superbatch run``: submit, wait, fetch results; any backend, injectable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from superbatch.backend import Backend
from superbatch.model import (
    AGGREGATE_TASK_ID,
    JobStatus,
    ProgressCallback,
    ResolvedJob,
    TaskResult,
)
from superbatch.patterns import has_wildcard, pattern_matches
from superbatch.results import MANIFEST_NAME
from superbatch.validate import LOGS_PREFIX


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: the final status and every task's results on local disk."""

    job_id: str
    status: JobStatus
    tasks: tuple[TaskResult, ...]
    aggregate: TaskResult | None
    results_dir: Path  # results/<job>/
    # One line per output pattern that matched no file in any task (said once, not per task)
    unmatched_outputs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def manifest(self) -> Path:
        return self.results_dir / MANIFEST_NAME

    def outputs(self, task_id: str) -> list[Path]:
        """Paths of one task's output files (logs excluded) under ``results_dir``."""
        for result in (*self.tasks, *([self.aggregate] if self.aggregate else [])):
            if result.task_id == task_id:
                return [
                    self.results_dir / task_id / f.path
                    for f in result.files
                    if not f.path.startswith("_logs/")
                ]
        raise KeyError(task_id)


class JobKeepsRunning(KeyboardInterrupt):
    """An interrupted run whose job goes on without it (on Azure: Batch runs the tasks,
    a watcher follows them)."""


def run_job(
    backend: Backend,
    job: ResolvedJob,
    *,
    results_root: Path,
    progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Run ``job`` to completion on ``backend`` and bring its results to ``results_root``.

    Idempotent for the same job id: tasks that already succeeded are not run again.
    """
    backend.submit(job, progress=progress)
    try:
        status = backend.wait(job.job_id, progress=progress)
    except KeyboardInterrupt:
        if backend.interrupted(job.job_id):
            raise JobKeepsRunning(job.job_id) from None
        raise
    results = backend.results(job.job_id, results_root)
    from superbatch.timings import write_timings

    write_timings(backend, job.job_id, results_root)  # beside the (timing-free) manifest
    tasks = tuple(r for r in results if r.task_id != AGGREGATE_TASK_ID)
    aggregate = next((r for r in results if r.task_id == AGGREGATE_TASK_ID), None)
    unmatched = unmatched_outputs(job.outputs, tasks, what="output pattern", where="any task")
    if job.aggregate is not None and aggregate is not None and aggregate.attempts:
        unmatched += unmatched_outputs(
            job.aggregate.outputs, (aggregate,), what="aggregate output", where="the aggregate"
        )
    return RunOutcome(
        job.job_id, status, tasks, aggregate, results_root / job.job_id, tuple(unmatched)
    )


def unmatched_outputs(
    patterns: Iterable[str], results: Iterable[TaskResult], *, what: str, where: str
) -> list[str]:
    """One line per pattern that matched no collected file of ``results`` (tasks that ran).

    The same on every backend: it looks at what came back, not at a working dir. A pattern
    without wildcards that matched nothing is often a folder, so the line says how to
    collect a folder's files.
    """
    ran = [r for r in results if r.attempts]
    if not ran:
        return []
    files = [f.path for r in ran for f in r.files if not f.path.startswith(LOGS_PREFIX)]
    lines = []
    for pattern in patterns:
        if any(pattern_matches(pattern, path) for path in files):
            continue
        line = f"{what} {pattern!r} matched no file in {where}"
        if not has_wildcard(pattern):
            line += f' (a folder? collect its files with "{pattern}/**/*")'
        lines.append(line)
    return lines
