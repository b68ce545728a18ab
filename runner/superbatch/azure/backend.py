"""AzureBatchBackend: the Backend protocol on Azure Batch + Blob Storage, identity only.

``submit`` stages inputs, creates the job (``noaction``), adds the tasks, adds the
aggregate step last and switches the job to ``terminatejob``; every step is idempotent, so
re-running the same spec after any interruption finishes the job without duplicates.
``status``/``wait``/``logs``/``results``/``list``/``clean`` need only the job id.

The bodies of the larger methods live beside it: ``submit`` in azure/jobsubmit.py,
``status`` in azure/status.py, ``list``/``job_ids``/``tasks``/``timings`` in azure/inspect.py.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from superbatch.azure import (
    cleanup,
    credentials,
    enforce,
    jobsubmit,
    monitor,
    pools,
    rearm,
    staging,
    submit,
    tasks,
    waiting,
)
from superbatch.azure import inspect as azure_inspect
from superbatch.azure import policy as azure_policy
from superbatch.azure import status as azure_status
from superbatch.azure.errors import call_with_retries
from superbatch.azure.jobcreate import META_AGGREGATE, META_POOL, META_TASKS
from superbatch.azure.pool import PoolWatch
from superbatch.azure.wire import wire_enum
from superbatch.contract import PoolInfo, StackOutputs
from superbatch.errors import SuperBatchError
from superbatch.model import (
    DEFAULT_POOL,
    JobStatus,
    JobSummary,
    ProgressCallback,
    ResolvedJob,
    TaskInfo,
    TaskResult,
    TaskState,
)
from superbatch.remote import BlobSource

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient

    from superbatch.follow import LogRead
    from superbatch.plan import Plan
    from superbatch.timings import TaskTimings

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class AzureBatchBackend:
    name = "azure"

    def __init__(
        self,
        outputs: StackOutputs,
        *,
        credential: TokenCredential | None = None,
        submit_concurrency: int = submit.SUBMIT_CONCURRENCY,
        staging_concurrency: int = staging.STAGING_CONCURRENCY,
        poll_interval: monitor.PollInterval | None = None,
        cold_start: rearm.Clock | None = rearm.WALL_CLOCK,
    ) -> None:
        """``cold_start``: the clock of the autoscale re-arm after a submission (None: off)."""
        self.outputs = outputs
        self._credential = credential or credentials.default_credential()
        self._batch: BatchClient | None = None
        self._inputs: ContainerClient | None = None
        self._results: ContainerClient | None = None
        self._submit_concurrency = submit_concurrency
        self._staging_concurrency = staging_concurrency
        self._poll_interval = poll_interval
        self.last_submit: submit.SubmitReport | None = None
        self.last_staging: staging.StagingReport | None = None
        self._cold_start_clock = cold_start
        self.cold_start: rearm.Watch | None = None  # the re-arm of the last submission
        self.where: list[str] | None = None  # how a watcher opens this backend again

    @classmethod
    def from_stack(cls, stack: str, **kwargs: Any) -> AzureBatchBackend:
        from superbatch.azure.outputs import load_stack_outputs

        backend = cls(load_stack_outputs(stack=stack), **kwargs)
        backend.where = ["--stack", stack]
        return backend

    @classmethod
    def from_outputs_file(cls, path: Path, **kwargs: Any) -> AzureBatchBackend:
        from superbatch.azure.outputs import load_stack_outputs

        backend = cls(load_stack_outputs(outputs_file=path), **kwargs)
        backend.where = ["--outputs", str(Path(path).absolute())]
        return backend

    # Clients are built on first use: `status` never needs the inputs container.
    @property
    def batch(self) -> BatchClient:
        if self._batch is None:
            self._batch = credentials.batch_client(self.outputs, self._credential)
        return self._batch

    @property
    def inputs(self) -> ContainerClient:
        if self._inputs is None:
            self._inputs = credentials.container_client(
                self.outputs.inputs_container_url, self._credential
            )
        return self._inputs

    @property
    def results_container(self) -> ContainerClient:
        if self._results is None:
            self._results = credentials.container_client(
                self.outputs.outputs_container_url, self._credential
            )
        return self._results

    def blob_source(self) -> BlobSource:
        """``az://`` names: only the containers the stack's nodes may read (``dataContainers``)."""
        from superbatch.azure.blob_source import StorageBlobs

        return StorageBlobs(self._credential, containers=self.outputs.data_containers)

    # -- submit -------------------------------------------------------------------------
    def submit(self, job: ResolvedJob, *, progress: ProgressCallback | None = None) -> None:
        jobsubmit.submit_job(self, job, progress=progress)

    def plan(self, job: ResolvedJob) -> Plan:
        """What ``submit`` would do, from reads only (blob metadata, the job, the pool)."""
        from superbatch.azure.planning import plan_job

        job_pool, _ = self._check_before_submit(job)
        return plan_job(
            self.batch,
            self.inputs,
            job,
            pool_id=job_pool.id,
            staging_concurrency=self._staging_concurrency,
        )

    def price_per_node_hour(self, pool: str | None) -> float | None:
        """The pool's ``pricePerNodeHour`` from the stack outputs (None: not given, a stack
        from before prices, or a pool the stack does not have)."""
        info = self.outputs.pools.get(pool or DEFAULT_POOL)
        return info.price_per_node_hour if info is not None else None

    def _check_before_submit(self, job: ResolvedJob) -> tuple[PoolInfo, ResolvedJob]:
        """Every check that needs no write, in order: the job's pool (an unknown one, or
        more slots than its nodes have, is refused first), and the job to submit, whose
        image names what the stack's registry holds by its digest."""
        pool = pools.job_pool(job, self.outputs)
        image = tasks.require_image(job)  # the stack's pool runs only container tasks
        # a bad image reference fails here, before anything remote
        registry = self.outputs.registry_login_server
        tasks.resolved_image(image, registry)
        credentials.check_credential(self._credential)
        from superbatch.images import resolve

        warning = resolve.docker_hub_warning(image)
        if warning:  # once per job: every node would pull it from Docker Hub
            _LOGGER.warning(warning)
        # nodes could not pull it: say so before anything is created
        digest = resolve.check_image_in_registry(image, registry, credential=self._credential)
        if digest is None:
            return pool, job
        return pool, replace(job, image=resolve.pinned_image(image, registry, digest))

    # -- reconnect ----------------------------------------------------------------------
    def _job_meta(self, job_id: str) -> dict[str, str]:
        job = call_with_retries(
            lambda: self.batch.get_job(job_id, select=["id", "metadata"]),
            action=f"find job {job_id}",
        )
        return {item.name: item.value for item in (job.metadata or [])}

    def _stderr(self, job_id: str) -> monitor.StderrReader:
        def read(task_id: str) -> str:
            return self.logs(job_id, task_id, stream="stderr")

        return read

    def status(self, job_id: str) -> JobStatus:
        return azure_status.job_status(self, job_id)

    def _pool_id(self, meta: dict[str, str]) -> str:
        """The Batch id of the job's pool (by the name it was submitted with)."""
        try:
            return self.outputs.pool(meta.get(META_POOL, DEFAULT_POOL)).id
        except KeyError:  # a pool the stack no longer has: the job's own pool info is gone too
            return self.outputs.pool_id

    def wait(
        self,
        job_id: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> JobStatus:
        """Follow the job to its end, leading its monitoring (azure/enforce.py) when no
        watcher does, and from the moment one is gone."""
        from superbatch.azure.watcher import JobLock

        lock = JobLock(self._watch_dir(job_id))
        try:
            return self.lead(job_id, lock, progress=progress, timeout=timeout)
        finally:
            lock.release()

    def lead(
        self,
        job_id: str,
        lock: Any,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        rearm_pool: bool = False,
    ) -> JobStatus:
        """The monitor: applies the job's policy while ``lock`` (its lead) is held, else
        follows; ``rearm_pool``: re-arm the pool's autoscale too (the watcher's)."""
        meta = self._job_meta(job_id)
        has_aggregate = meta.get(META_AGGREGATE) == "1"

        def leader() -> enforce.Enforcer | None:
            if not lock.acquire():
                return None
            return enforce.Enforcer(self.batch, self.inputs, job_id, meta)

        enforcer = leader()
        clock = self._cold_start_clock
        if rearm_pool and enforcer is not None and clock is not None and self._queued(job_id):
            self.cold_start = rearm.Watch(self.batch, self._pool_id(meta), clock=clock)
        limit = meta.get(azure_policy.META_MAX_FAILURES)
        return waiting.wait_for_job(
            self.batch,
            job_id,
            expected_tasks=int(meta.get(META_TASKS, "0")),
            has_aggregate=has_aggregate,
            progress=progress,
            timeout=timeout,
            stderr=self._stderr(job_id),
            interval=self._poll_interval,
            on_blocked_aggregate=lambda: monitor.end_blocked_job(self.batch, job_id),
            allow_failures=int(meta.get(azure_policy.META_ALLOW_FAILURES, "0")),
            too_many=lambda failed: azure_policy.too_many(meta, failed),
            on_too_many=lambda: enforce.stop_for_failures(self.batch, job_id, int(limit or 0)),
            pool=PoolWatch(self.batch, self._pool_id(meta)),
            stuck_after=float("inf") if rearm_pool else monitor.STUCK_GIVE_UP_SECONDS,
            watched=meta.get(azure_policy.META_WATCHED) == "1",
            deferred=meta.get(azure_policy.META_DEFERRED) == "1",
            enforcer=enforcer,
            lead=leader if enforcer is None else None,
        )

    def _queued(self, job_id: str) -> bool:
        """Tasks wait for nodes (by the counts): the watcher re-arms the pool for them."""
        return bool(monitor.task_counts(self.batch, job_id)[1].active)

    def _watch_dir(self, job_id: str) -> Path:
        from superbatch.azure.watcher import watch_dir

        return watch_dir(self.outputs.batch_account_endpoint, job_id)

    def logs(self, job_id: str, task_id: str, *, stream: str = "stderr") -> str:
        """The task's stored (or, while it runs, live) log; "" while it has none yet.

        An unknown job or task raises JobNotFoundError (as --local does), never "".
        """
        from superbatch.azure.logs import whole_log

        return whole_log(self.batch, self.results_container, job_id, task_id, stream=stream)

    def read_log(self, job_id: str, task_id: str, *, stream: str, offset: int) -> LogRead:
        """From the node (byte ranges) while the task runs, from storage once it ended."""
        from superbatch.azure.logs import read_task_log

        if stream not in ("stdout", "stderr"):
            raise SuperBatchError(f"unknown log stream {stream!r}: use stdout or stderr")
        return read_task_log(
            self.batch, self.results_container, job_id, task_id, stream=stream, offset=offset
        )

    def results(
        self,
        job_id: str,
        dest: Path,
        *,
        only: tuple[str, ...] | None = None,
        download: bool = True,
    ) -> builtins.list[TaskResult]:
        from superbatch.azure.fetch import fetch_results

        return fetch_results(self, job_id, dest, only=only, download=download)

    def _job_state(self, job_id: str) -> str:
        job = call_with_retries(
            lambda: self.batch.get_job(job_id, select=["id", "state"]),
            action=f"find job {job_id}",
        )
        return wire_enum(job.state)

    def _all_tasks(
        self, job_id: str, convert: Callable[[Any], T], *, select: Sequence[str] = ()
    ) -> builtins.list[T]:
        """Every task of the job (``monitor.TASK_FIELDS`` and ``select``), each converted as
        it is listed: the SDK's model of a task costs some 2 KB, 200 MB at 100,000 tasks."""
        fields = [*monitor.TASK_FIELDS, *select]
        return call_with_retries(
            lambda: [convert(task) for task in self.batch.list_tasks(job_id, select=fields)],
            action=f"list the tasks of job {job_id}",
        )

    def list(self) -> builtins.list[JobSummary]:
        return azure_inspect.list_jobs(self)

    def job_ids(self) -> builtins.list[str]:
        return azure_inspect.job_ids(self)

    def timings(self, job_id: str) -> builtins.list[TaskTimings]:
        return azure_inspect.task_timings(self, job_id)

    def tasks(self, job_id: str) -> builtins.list[TaskInfo]:
        return azure_inspect.task_infos(self, job_id)

    def cancel(self, job_id: str) -> JobStatus:
        """Terminate the job (Batch kills its running tasks; tasks not started never run)
        and wait until it has; outputs and logs of finished tasks stay in storage."""
        from superbatch.azure import jobend

        self._job_meta(job_id)  # an unknown job is JobNotFoundError
        from superbatch.azure.ending import end_job

        end_job(self.batch, job_id, jobend.CANCEL_REASON, why="as asked (cancel)", wait=True)
        return self.status(job_id)

    def detach(self, job_id: str) -> None:
        """Start the job's watcher unless one is alive (Batch runs the job either way; the
        watcher applies what Batch cannot: azure/watcher.py)."""
        from superbatch.azure.watcher import start_watcher

        if self.cold_start is not None:  # the watcher re-arms the pool from now on
            self.cold_start.stop()
        if self.where is not None:
            start_watcher(self.where, self._watch_dir(job_id), job_id)

    def interrupted(self, job_id: str) -> bool:
        """Batch goes on running the job; its watcher takes over the monitor (retries,
        max_failures, the aggregate step, the pool's re-arm), as after ``run --detach``."""
        self.detach(job_id)
        return True

    def clean(self, job_id: str) -> None:
        from superbatch.azure.watcher import stop_watcher

        stop_watcher(self._watch_dir(job_id))
        cleanup.delete_job(self.batch, job_id)  # first: a failure leaves the files in place
        cleanup.delete_job_blobs(self.inputs, job_id)
        cleanup.delete_job_blobs(self.results_container, job_id)


__all__ = ["AzureBatchBackend", "TaskState"]
