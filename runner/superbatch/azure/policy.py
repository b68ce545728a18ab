"""The failure policy on Azure Batch: what Batch does itself, and what the runner's monitor does.

Everything is kept in the job's metadata, so any process that watches the job (``run``,
the background watcher of ``run --detach``, ``wait``) applies the same policy:

- ``max_failures``: the monitor stops the job once more tasks failed for good than allowed.
- ``[aggregate] allow_failures = true`` (and no runner retries): each task's
  ``exitConditions`` say a failure satisfies the aggregate's dependency; Batch alone does it.
- ``retry_on_exit`` / ``no_retry_on_exit``: Batch retries every non-zero exit alike
  (``maxTaskRetryCount``), so such tasks get 0 Batch retries and the monitor *reactivates*
  a task that failed with a retryable exit code while its attempts are under the limit
  ("Tasks - Reactivate Task", Batch REST: it "will fail if the Job has completed (or is
  terminating or deleting)" and "each time a Task is reactivated, its retry count is reset
  to 0"). So such a job is *watched*: it stays ``noaction`` and the monitor ends it, and the
  reactivations are counted in the job's metadata (``superbatch_reactivated``), where
  ``tasks``/``status``/``report`` read them.
- A numeric ``allow_failures`` (or runner retries with an aggregate step): Batch's dependency
  rule has no count, and a final failure is only known to the runner, so the aggregate is
  *deferred*: its task body is stored beside the inputs and the monitor adds it once every
  task ended for good, if at most N failed; else it ends the job saying why.
"""

from __future__ import annotations

from typing import Any

from superbatch.model import ResolvedJob
from superbatch.policy import ANY, FailurePolicy

META_TASKS = "superbatch_tasks"  # how many tasks the job has (the aggregate step aside)
META_ALLOW_FAILURES = "superbatch_allow_failures"  # [aggregate] allow_failures (-1: any)
META_MAX_FAILURES = "superbatch_max_failures"
META_RETRY_ON_EXIT = "superbatch_retry_on_exit"  # "75,137"
META_NO_RETRY_ON_EXIT = "superbatch_no_retry_on_exit"
META_RETRIES = "superbatch_retries"  # attempts after the first, decided by the runner
META_WATCHED = "superbatch_watched"  # "1": the monitor ends the job, not Batch
META_DEFERRED = "superbatch_deferred_aggregate"  # "1": the monitor adds the aggregate
META_ADDED = "superbatch_added"  # "1": every task is added (a watched job stays noaction)
META_REACTIVATED = "superbatch_reactivated"  # "3:1,7:2": runner reactivations per task


def runner_retries(job: ResolvedJob) -> bool:
    """The runner decides which failures are retried (Batch would retry every one)."""
    return job.policy.retry_on_exit is not None or bool(job.policy.no_retry_on_exit)


def deferred_aggregate(job: ResolvedJob) -> bool:
    """The aggregate step is added by the monitor once every task ended for good."""
    if job.aggregate is None:
        return False
    return runner_retries(job) or job.aggregate.allow_failures not in (0, ANY)


def watched(job: ResolvedJob) -> bool:
    return runner_retries(job) or deferred_aggregate(job)


def batch_retries(job: ResolvedJob) -> int:
    """``maxTaskRetryCount`` of the job's tasks: 0 where the runner decides."""
    return 0 if runner_retries(job) else job.retries


def metadata(job: ResolvedJob) -> list[Any]:
    """The job metadata items that carry its policy (none for the default policy)."""
    from azure.batch.models import BatchMetadataItem

    values: dict[str, str] = {}
    if job.aggregate is not None and job.aggregate.allow_failures:
        values[META_ALLOW_FAILURES] = str(job.aggregate.allow_failures)
    if job.policy.max_failures is not None:
        values[META_MAX_FAILURES] = str(job.policy.max_failures)
    if job.policy.retry_on_exit is not None:
        values[META_RETRY_ON_EXIT] = ",".join(map(str, job.policy.retry_on_exit))
    if job.policy.no_retry_on_exit:
        values[META_NO_RETRY_ON_EXIT] = ",".join(map(str, job.policy.no_retry_on_exit))
    if runner_retries(job):
        values[META_RETRIES] = str(job.retries)
    if watched(job):
        values[META_WATCHED] = "1"
    if deferred_aggregate(job):
        values[META_DEFERRED] = "1"
    return [BatchMetadataItem(name=k, value=v) for k, v in values.items()]


def too_many(meta: dict[str, str], failed: int) -> bool:
    limit = meta.get(META_MAX_FAILURES)
    return limit is not None and failed > int(limit)


def _codes(text: str | None) -> tuple[int, ...]:
    return tuple(int(c) for c in (text or "").split(",") if c)


def policy_of(meta: dict[str, str]) -> FailurePolicy:
    """The failure policy a job was submitted with, from its metadata."""
    retry_on = meta.get(META_RETRY_ON_EXIT)
    limit = meta.get(META_MAX_FAILURES)
    return FailurePolicy(
        _codes(retry_on) if retry_on is not None else None,
        _codes(meta.get(META_NO_RETRY_ON_EXIT)),
        int(limit) if limit is not None else None,
    )


def reactivations(meta: dict[str, str]) -> dict[str, int]:
    """Task id -> how many times the runner reactivated it (each is one more attempt)."""
    found: dict[str, int] = {}
    for item in (meta.get(META_REACTIVATED) or "").split(","):
        task, _, count = item.rpartition(":")
        if task and count.isdigit():
            found[task] = int(count)
    return found


def reactivations_value(counts: dict[str, int]) -> str:
    return ",".join(f"{task}:{n}" for task, n in sorted(counts.items()) if n)
