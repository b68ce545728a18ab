"""The backend interface: LocalBackend and AzureBatchBackend both implement it.

Like dsub's providers: the core (:func:`superbatch.run.run_job`) and the CLI only talk to
this protocol, so the same resolved job runs on this machine or on Azure Batch and comes
back in the same ``results/<job>/`` layout with the same ``manifest.json``.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Protocol

from superbatch.follow import LogRead
from superbatch.model import (
    JobStatus,
    JobSummary,
    ProgressCallback,
    ResolvedJob,
    TaskInfo,
    TaskResult,
)
from superbatch.plan import Plan
from superbatch.remote import BlobSource
from superbatch.timings import TaskTimings


class Backend(Protocol):
    name: str  # "local" | "azure": recorded in the manifest

    def submit(self, job: ResolvedJob, *, progress: ProgressCallback | None = None) -> None:
        """Create the job and its tasks, or reconnect to them: idempotent for the same job id.

        Re-submitting adds only the tasks (and uploads only the inputs) that are missing.
        """
        ...

    def plan(self, job: ResolvedJob) -> Plan:
        """What :meth:`submit` would do, checked as for a run, from reads only."""
        ...

    def price_per_node_hour(self, pool: str | None) -> float | None:
        """What one node of ``pool`` (None: ``default``) costs per hour, as the stack's
        config says (``pricePerNodeHour``); None when it says nothing. Never looked up."""
        ...

    def status(self, job_id: str) -> JobStatus: ...

    def wait(
        self,
        job_id: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> JobStatus:
        """Block until every task (and the aggregate step) is done; return the final status."""
        ...

    def logs(self, job_id: str, task_id: str, *, stream: str = "stderr") -> str: ...

    def read_log(self, job_id: str, task_id: str, *, stream: str, offset: int) -> LogRead:
        """A task's log from byte ``offset`` on, and whether it has started and ended
        (``logs -f`` polls this)."""
        ...

    def results(
        self,
        job_id: str,
        dest: Path,
        *,
        only: tuple[str, ...] | None = None,
        download: bool = True,
    ) -> builtins.list[TaskResult]:
        """Bring every task's outputs and logs to ``dest/<job>/<task>/`` and write the manifest.

        Resumable: files already present with the right size and hash are not fetched again.
        ``only``: patterns picking files (logs only when a pattern names ``_logs``);
        ``download=False``: the manifest lists each file's URL and nothing is fetched.
        """
        ...

    def list(self) -> builtins.list[JobSummary]: ...

    def job_ids(self) -> builtins.list[str]:
        """Ids of every job of this backend (for prefixes: cheaper than :meth:`list`)."""
        ...

    def timings(self, job_id: str) -> builtins.list[TaskTimings]:
        """Every task's attempts: start, end, exit code and node (the report's data)."""
        ...

    def tasks(self, job_id: str) -> builtins.list[TaskInfo]:
        """Every task (the aggregate step last) with its label, state and last attempt."""
        ...

    def cancel(self, job_id: str) -> JobStatus:
        """Stop the job: running tasks are killed, queued ones never run; everything
        finished (outputs, logs, results) is kept. Returns the job's status after."""
        ...

    def detach(self, job_id: str) -> None:
        """Make sure the submitted job runs without this process (locally: a background
        runner; on Azure there is nothing to do)."""
        ...

    def interrupted(self, job_id: str) -> bool:
        """The foreground run of the submitted job was interrupted while it waited: whether
        the job goes on without this process (on Azure it does: Batch runs it, and a watcher
        now applies what the runner does; locally the run has stopped its tasks)."""
        ...

    def blob_source(self) -> BlobSource:
        """Where ``az://`` names are listed and looked up, with the submitting identity."""
        ...

    def clean(self, job_id: str) -> None:
        """Delete the job and everything the backend stored for it (never local results)."""
        ...
