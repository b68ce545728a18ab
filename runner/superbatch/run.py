"""The core of ``superbatch run``: submit, wait, fetch results; any backend, injectable."""

from __future__ import annotations

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
from superbatch.results import MANIFEST_NAME


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: the final status and every task's results on local disk."""

    job_id: str
    status: JobStatus
    tasks: tuple[TaskResult, ...]
    aggregate: TaskResult | None
    results_dir: Path  # results/<job>/

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
    status = backend.wait(job.job_id, progress=progress)
    results = backend.results(job.job_id, results_root)
    tasks = tuple(r for r in results if r.task_id != AGGREGATE_TASK_ID)
    aggregate = next((r for r in results if r.task_id == AGGREGATE_TASK_ID), None)
    return RunOutcome(job.job_id, status, tasks, aggregate, results_root / job.job_id)
