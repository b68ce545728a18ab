"""The policies Batch cannot enforce, applied by the runner's monitor at each poll.

Whoever *leads* a job's monitoring applies them: the foreground ``run``, else the background
watcher of ``run --detach`` (``azure/watcher.py``), else a ``wait`` that finds no watcher
alive. One leader per job at a time (the watcher's lock), so nothing is done twice; every
step is idempotent anyway, so a leader killed mid-way is taken over by the next one.

What it does (the policy comes from the job's metadata, ``azure/policy.py``):

1. **Runner retries** (``retry_on_exit`` / ``no_retry_on_exit``): a task that failed with a
   retryable exit code while its attempts are under ``retries + 1`` is reactivated. The
   count is written to the job's metadata *before* the reactivation, so a leader killed in
   between gives a task one attempt fewer, never one too many.
2. **max_failures**: more tasks failed for good than allowed stops the job.
3. **Deferred aggregate**: once every task ended for good, the aggregate task (its body was
   stored at submission) is added if at most ``allow_failures`` tasks failed; otherwise the
   job is ended with the reason, and the aggregate reported as never run (as ``--local``).
4. **The end of a watched job**: it stays ``noaction`` (a reactivation needs an active job),
   so the leader ends it once nothing is left to run or to retry.
"""

from __future__ import annotations

import contextlib
import logging
from enum import Enum
from typing import TYPE_CHECKING, Any

from superbatch.azure import policy as azure_policy
from superbatch.azure.ending import ALL_DONE_REASON, end_job
from superbatch.azure.errors import call_with_retries
from superbatch.azure.wire import wire_enum
from superbatch.model import AGGREGATE_TASK_ID
from superbatch.policy import aggregate_may_run, stop_reason

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import ContainerClient

_LOGGER = logging.getLogger(__name__)


def aggregate_blob(job_id: str) -> str:
    """Where a deferred aggregate's task body waits (inputs container; ``clean`` deletes it)."""
    return f"{job_id}/aggregate-task.json"


def not_run_reason(failed: int, allow: int) -> str:
    return (
        f"SuperBatchAggregateNotRun: {failed} tasks failed, more than allow_failures = {allow}: "
        "the aggregate step did not run"
    )


def stop_for_failures(batch: BatchClient, job_id: str, max_failures: int) -> None:
    """End the job: more tasks failed for good than ``max_failures`` allows."""
    from superbatch.azure import jobend

    reason = f"{jobend.STOP_PREFIX}: {stop_reason(max_failures)}"
    end_job(batch, job_id, reason, why="after too many failed tasks (max_failures)")


class Step(Enum):
    NOTHING = "nothing"
    CHANGED = "changed"  # something was reactivated or added: poll again soon
    ENDED = "ended"  # the job was ended here (stopped, or its end confirmed)


class Enforcer:
    """One job's policy, applied by the process that leads its monitoring."""

    def __init__(
        self,
        batch: BatchClient,
        inputs: ContainerClient | None,
        job_id: str,
        meta: dict[str, str],
    ) -> None:
        self.batch = batch
        self.inputs = inputs
        self.job_id = job_id
        self.meta = meta
        self.policy = azure_policy.policy_of(meta)
        self.retries = int(meta.get(azure_policy.META_RETRIES, "0"))
        self.runner_retries = azure_policy.META_RETRIES in meta
        self.watched = meta.get(azure_policy.META_WATCHED) == "1"
        self.deferred = meta.get(azure_policy.META_DEFERRED) == "1"
        self.allow = int(meta.get(azure_policy.META_ALLOW_FAILURES, "0"))
        self.expected = int(meta.get(azure_policy.META_TASKS, "0"))
        self.reactivated = azure_policy.reactivations(meta)
        self._listed: Any = None  # the counts at the last listing of failed tasks
        self._final_failed = 0  # regular tasks failed for good, at the last listing

    # -- one poll ----------------------------------------------------------------------
    def poll(self, raw: Any, regular_failed: int) -> Step:
        """``raw``: this poll's task counts; ``regular_failed``: failed tasks but the aggregate
        (by the counts: with runner retries, the failed tasks are listed instead)."""
        failed = regular_failed
        if self.runner_retries:
            counts = raw.as_dict()
            if raw.failed and counts != self._listed:  # list only when the counts moved
                self._listed = counts
                retried, self._final_failed = self._retry_failed()
                if retried:
                    self._listed = None  # list again next poll: the retry may fail fast
                    return Step.CHANGED
            failed = self._final_failed if raw.failed else 0
        if azure_policy.too_many(self.meta, failed):
            self._stop()
            return Step.ENDED
        if not self.watched or raw.active or raw.running:
            return Step.NOTHING
        return self._settle()

    def _retry_failed(self) -> tuple[int, int]:
        """Reactivate what the policy retries; (how many were, regular tasks failed for good)."""
        tasks = call_with_retries(
            lambda: list(
                self.batch.list_tasks(
                    self.job_id,
                    filter="executionInfo/result eq 'failure'",
                    select=["id", "state", "executionInfo"],
                )
            ),
            action=f"list the failed tasks of job {self.job_id}",
        )
        retried = 0
        final = 0
        for task in tasks:
            if self._retryable(task) and self._reactivate(task.id):
                retried += 1
            elif task.id != AGGREGATE_TASK_ID:
                final += 1
        return retried, final

    def _retryable(self, task: Any) -> bool:
        if wire_enum(task.state) != "completed":
            return False
        info = task.execution_info
        failure = info.failure_info if info is not None else None
        exit_code = info.exit_code if info is not None else None
        if failure is not None and failure.code != "FailureExitCode":
            exit_code = None  # killed, timed out, could not start: no exit code of its own
        attempts = 1 + (info.retry_count or 0 if info is not None else 0)
        attempts += self.reactivated.get(task.id, 0)
        return attempts <= self.retries and self.policy.retryable(exit_code)

    def _reactivate(self, task_id: str) -> bool:
        """Count one more attempt, then reactivate; False when the job is no longer active."""
        from azure.core.exceptions import ResourceExistsError

        self.reactivated[task_id] = self.reactivated.get(task_id, 0) + 1
        if not self._write_reactivations():  # first: a kill in between costs an attempt
            self.reactivated[task_id] -= 1
            return False
        _LOGGER.info("job %s: task %s retried", self.job_id, task_id)

        def reactivate() -> None:
            with contextlib.suppress(ResourceExistsError):  # 409: active again, or job ended
                self.batch.reactivate_task(self.job_id, task_id)

        call_with_retries(reactivate, action=f"retry task {task_id} of job {self.job_id}")
        return True

    def _write_reactivations(self) -> bool:
        from azure.batch.models import BatchJobUpdateOptions, BatchMetadataItem

        job = call_with_retries(
            lambda: self.batch.get_job(self.job_id, select=["id", "state", "metadata"]),
            action=f"find job {self.job_id}",
        )
        if wire_enum(job.state) != "active":  # cancelled or stopped: nothing is retried
            return False
        items = {m.name: m.value for m in (job.metadata or [])}
        items[azure_policy.META_REACTIVATED] = azure_policy.reactivations_value(self.reactivated)
        self.meta = items
        options = BatchJobUpdateOptions(
            metadata=[BatchMetadataItem(name=k, value=v) for k, v in items.items()]
        )
        call_with_retries(
            lambda: self.batch.update_job(self.job_id, options),
            action=f"record the attempts of job {self.job_id}",
            repeat=True,
        )
        return True

    def _stop(self) -> None:
        assert self.policy.max_failures is not None
        stop_for_failures(self.batch, self.job_id, self.policy.max_failures)

    # -- the end of a watched job ------------------------------------------------------
    def _settle(self) -> Step:
        """Nothing queued or running by the counts (which lag): confirm by listings, then
        add the deferred aggregate, or end the job."""
        listed = call_with_retries(
            lambda: [
                (t.id, wire_enum(t.state))
                for t in self.batch.list_tasks(self.job_id, select=["id", "state"])
            ],
            action=f"list the tasks of job {self.job_id}",
        )
        if any(state != "completed" for _, state in listed):
            return Step.NOTHING
        ids = {task_id for task_id, _ in listed}
        if len(ids - {AGGREGATE_TASK_ID}) < self.expected:
            return Step.NOTHING  # the submission is not finished (or was interrupted)
        if self.runner_retries:  # a retry the counts have not shown yet
            retried, failed = self._retry_failed()
            if retried:
                self._listed = None
                return Step.CHANGED
        else:
            failed = self._count_failed()  # the counts lag: the listing is the word
        if azure_policy.too_many(self.meta, failed):
            self._stop()
            return Step.ENDED
        if self.deferred and AGGREGATE_TASK_ID not in ids:
            if aggregate_may_run(failed, self.allow):
                self._add_aggregate()
                return Step.CHANGED
            end_job(self.batch, self.job_id, not_run_reason(failed, self.allow),
                    why="whose aggregate step may not run (allow_failures)")  # fmt: skip
            return Step.ENDED
        end_job(self.batch, self.job_id, ALL_DONE_REASON, why="whose tasks are all complete")
        return Step.ENDED

    def _count_failed(self) -> int:
        return call_with_retries(
            lambda: sum(
                1
                for t in self.batch.list_tasks(
                    self.job_id, filter="executionInfo/result eq 'failure'", select=["id"]
                )
                if t.id != AGGREGATE_TASK_ID
            ),
            action=f"list the failed tasks of job {self.job_id}",
        )

    def _add_aggregate(self) -> None:
        from superbatch.azure.download import read_blob_bytes
        from superbatch.azure.submit import TaskSubmitter

        assert self.inputs is not None, "a deferred aggregate needs the inputs container"
        inputs = self.inputs
        name = aggregate_blob(self.job_id)
        body = call_with_retries(lambda: read_blob_bytes(inputs, name), action=f"read {name}")
        if body is None:
            raise RuntimeError(f"the aggregate step of {self.job_id} is missing ({name})")
        TaskSubmitter(self.batch, self.job_id, concurrency=1).submit(
            [(AGGREGATE_TASK_ID, body)], expected={AGGREGATE_TASK_ID}, body_for=lambda _: body
        )
        _LOGGER.info("job %s: aggregate step added", self.job_id)
