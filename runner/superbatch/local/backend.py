"""LocalBackend: runs a resolved job on this machine the way a Batch node would.

``submit`` records the job in the state dir (``.superbatch/`` or ``$SUPERBATCH_HOME``);
``wait`` runs whatever is not finished yet, in parallel, or follows the process that is
already running it; ``results`` mirrors the collected files into ``results/<job>/`` and
writes the manifest. A re-run of the same job id only runs tasks that did not succeed.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from superbatch.engine import ENGINES
from superbatch.errors import (
    ConfigError,
    JobNotFoundError,
    SpecError,
    SuperBatchError,
    TaskNotStartedError,
)
from superbatch.follow import LogRead
from superbatch.local.containers import choose_container, engines_to_clean
from superbatch.local.execute import ContainerRun, remove_job_containers
from superbatch.local.node import NodeLayout
from superbatch.local.scheduler import Scheduler, kill_leftovers
from superbatch.local.state import JobStore, TaskRecord, default_home, list_job_ids
from superbatch.local.status import job_status
from superbatch.model import (
    AGGREGATE_TASK_ID,
    InputFile,
    JobStatus,
    JobSummary,
    ProgressCallback,
    RemoteFile,
    ResolvedJob,
    TaskInfo,
    TaskResult,
    TaskState,
)
from superbatch.plan import Plan
from superbatch.remote import BlobSource
from superbatch.timings import TaskTimings
from superbatch.validate import is_valid_id

FOLLOW_INTERVAL = 0.5
CANCEL_TIMEOUT = 60.0


class LocalBackend:
    """Run jobs on this machine: in the job's image when an engine has it, else on the host."""

    name = "local"

    def __init__(
        self,
        *,
        home: Path | None = None,
        parallel: int | None = None,
        engine: str | None = None,
        container: bool = True,
    ) -> None:
        if parallel is not None and parallel < 1:
            raise ConfigError(f"--parallel must be at least 1, not {parallel}")
        if engine is not None and engine not in ENGINES:
            raise ConfigError(f"unknown container engine {engine!r}: use docker or podman")
        if engine is not None and not container:
            raise ConfigError("--engine and --no-container contradict each other: pick one")
        self.home = (home or default_home()).absolute()
        self.parallel = parallel or os.cpu_count() or 1
        self.engine_name = engine  # None: auto (docker, then podman)
        self.use_container = container
        self.node = NodeLayout(self.home / "node")
        self._plans: dict[str, ContainerRun | None] = {}
        self._azure_credential: Any = None

    # -- Backend protocol ---------------------------------------------------------------

    def submit(self, job: ResolvedJob, *, progress: ProgressCallback | None = None) -> None:
        if job.slots > self.parallel:  # as a pool refuses a task wider than its nodes
            raise SpecError(
                f"job {job.name}: slots = {job.slots} is more than this machine runs at once "
                f"(--parallel {self.parallel}): raise --parallel or lower slots"
            )
        store = self._locate(job.job_id)  # run from another folder: the job's own state
        failed: list[str] = []
        if store.exists():
            if store.ended():
                return  # a cancelled or stopped job runs nothing more (as a terminated one)
            if store.runner_alive():
                raise ConfigError(
                    f"job {job.job_id} is already running in another process; follow it with "
                    f"`superbatch wait {job.job_id} --local`"
                )
            records = store.records()
            failed = [t for t, r in records.items() if r.state == TaskState.FAILED]
            if not failed and self._status(job, records, alive=False).done:
                return  # every task succeeded: nothing will run, so no image check either
        self.container_plan(job)  # may refuse (explicit engine without the image): first
        if not store.exists():
            store.create(self._with_blobs_fetched(job))
            return
        store.append(*({"task": t, "event": "reset"} for t in failed))

    def blob_source(self) -> BlobSource:
        """``az://`` names are read with your own identity (``az login``), any container."""
        from superbatch.azure.blob_source import StorageBlobs

        return StorageBlobs(self._credential())

    def _credential(self) -> Any:
        if self._azure_credential is None:
            from superbatch.azure.credentials import default_credential

            self._azure_credential = default_credential()
        return self._azure_credential

    def _with_blobs_fetched(self, job: ResolvedJob) -> ResolvedJob:
        """Blobs the job names, downloaded once into the state dir and staged like files."""
        remote = [f for t in job.tasks for f in t.inputs if isinstance(f, RemoteFile)]
        if not remote:
            return job
        from superbatch.azure.blob_source import fetch_blobs
        from superbatch.local.blobcache import BLOBS_DIR, link_into

        cache = self.home / BLOBS_DIR

        def fetch(urls: builtins.list[str]) -> dict[str, Path]:
            wanted = set(urls)
            return fetch_blobs([f for f in remote if f.url in wanted], cache, self._credential())

        paths = link_into(
            fetch([f.url for f in remote]), self._store(job.job_id).dir / BLOBS_DIR, fetch
        )
        tasks = tuple(
            replace(
                task,
                inputs=tuple(
                    InputFile(paths[f.url], f.dest) if isinstance(f, RemoteFile) else f
                    for f in task.inputs
                ),
            )
            for task in job.tasks
        )
        return replace(job, tasks=tasks)

    def plan(self, job: ResolvedJob) -> Plan:
        """What ``submit`` and ``wait`` would do; reads only (no state dir is created)."""
        from superbatch.local.inspect import plan_job

        return plan_job(self, job)

    def price_per_node_hour(self, pool: str | None) -> float | None:
        """None: there is no stack here, so a price comes only from --price-per-node-hour."""
        return None

    def status(self, job_id: str) -> JobStatus:
        store = self._existing_store(job_id)
        alive = store.runner_alive()
        return self._status(store.load(), store.records(), alive=alive, store=store)

    def detach(self, job_id: str) -> None:
        """Start a background runner for the job unless one runs (or nothing is left)."""
        from superbatch.local.runner import start_runner

        store = self._existing_store(job_id)
        job = store.load()
        if self._status(job, store.records(), alive=False, store=store).done:
            return
        self.container_plan(job)  # its warnings belong here, not only in the runner's log
        start_runner(self, store)

    def interrupted(self, job_id: str) -> bool:
        return False  # the interrupted run has killed its tasks: `wait` or a re-run resumes

    def cancel(self, job_id: str) -> JobStatus:
        """Stop the job: its runner (SIGTERM: it kills its tasks and their containers) and
        anything a killed runner left; finished tasks, their files and logs stay."""
        import signal

        from superbatch.local.state import JOB_EVENT_TASK

        store = self._existing_store(job_id)
        job = store.load()
        store.append({"task": JOB_EVENT_TASK, "event": "cancelled", "time": time.time()})
        pid = store.runner_pid()
        if pid is not None and store.runner_alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + CANCEL_TIMEOUT
            while store.runner_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if store.runner_alive():
                raise SuperBatchError(
                    f"the runner of {job_id} (pid {pid}) did not stop in {CANCEL_TIMEOUT:.0f} s"
                )
        records = store.records()
        running = [t for t, r in records.items() if r.state == TaskState.RUNNING]
        kill_leftovers(self.node, job_id, records)
        if running and job.image is not None and self.use_container:
            for engine in engines_to_clean(self.engine_name):
                remove_job_containers(engine, job_id, running)
        return self._status(job, records, alive=False, store=store)

    def wait(
        self,
        job_id: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        run_here: bool = True,
    ) -> JobStatus:
        """Run what is left here (``run_here``), or follow the process that runs it; with
        ``run_here=False`` a background runner is started when none runs (so Ctrl-C here
        only stops following)."""
        store = self._existing_store(job_id)
        job = store.load()
        deadline = None if timeout is None else time.monotonic() + timeout
        started = False
        while True:
            with store.runner_lock() as ours:
                if ours:
                    status = self._status(job, store.records(), alive=False, store=store)
                    if status.done:  # nothing left to run: no scheduler, no image check
                        return status
                    if run_here:
                        store.pid_file.write_text(f"{os.getpid()}\n")
                        self._scheduler(job, store).run(progress)
                        return self._status(job, store.records(), alive=False, store=store)
            if ours:  # nobody runs it and we only follow: start the runner (once)
                if started:
                    return status
                self.detach(job_id)
                started = True
                continue
            status = self._status(job, store.records(), alive=True, store=store)
            if progress is not None:
                progress(status.counts)
            if status.done or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(FOLLOW_INTERVAL)

    def logs(self, job_id: str, task_id: str, *, stream: str = "stderr") -> str:
        if stream not in ("stdout", "stderr"):
            raise SuperBatchError(f"unknown log stream {stream!r}: use stdout or stderr")
        job = self._existing_store(job_id).load()
        if task_id not in {t.id for t in job.tasks} | {AGGREGATE_TASK_ID}:
            raise JobNotFoundError(f"job {job_id} has no task {task_id!r}")
        path = self.node.task_dir(job_id, task_id) / f"{stream}.txt"
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # written when a task starts: this one has not
            raise TaskNotStartedError(
                f"task {task_id} of job {job_id} has not run yet: no logs"
            ) from None

    def read_log(self, job_id: str, task_id: str, *, stream: str, offset: int) -> LogRead:
        """The task's log from ``offset`` on, straight from its node dir."""
        from superbatch.local.inspect import read_task_log

        return read_task_log(self, job_id, task_id, stream=stream, offset=offset)

    def results(
        self,
        job_id: str,
        dest: Path,
        *,
        only: tuple[str, ...] | None = None,
        download: bool = True,
    ) -> builtins.list[TaskResult]:
        """Bring every task's files from its node dir to ``dest/<job>/<task>/`` (or, without
        ``download``, list them where they are) and write the manifest."""
        from superbatch.local.collect import collect_results

        return collect_results(self, job_id, dest, only=only, download=download)

    def list(self) -> builtins.list[JobSummary]:
        """Jobs of this state dir and of every other one the per-user index knows."""
        summaries: dict[str, JobSummary] = {}
        for home in self._homes():
            backend = self if home == self.home else LocalBackend(home=home)
            for job_id in list_job_ids(home):
                if job_id in summaries:
                    continue
                store = backend._store(job_id)
                status = backend._status(store.load(), store.records(), alive=store.runner_alive())
                created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(store.created()))
                summaries[job_id] = JobSummary(job_id, status.state, status.counts, created)
        return sorted(summaries.values(), key=lambda s: (s.created or "", s.job_id))

    def job_ids(self) -> builtins.list[str]:
        ids: dict[str, None] = {}
        for home in self._homes():
            ids.update(dict.fromkeys(list_job_ids(home)))
        return list(ids)

    def timings(self, job_id: str) -> builtins.list[TaskTimings]:
        from superbatch.local.inspect import task_timings

        return task_timings(self, job_id)

    def tasks(self, job_id: str) -> builtins.list[TaskInfo]:
        from superbatch.local.inspect import task_infos

        return task_infos(self, job_id)

    def clean(self, job_id: str) -> None:
        store = self._existing_store(job_id)
        if store.runner_alive():
            raise ConfigError(f"job {job_id} is running in another process; stop it first")
        job = store.load()
        if job.image is not None and self.use_container:
            task_ids = [t.id for t in job.tasks] + [AGGREGATE_TASK_ID]
            for engine in engines_to_clean(self.engine_name):
                remove_job_containers(engine, job_id, task_ids)
        from superbatch.local.blobcache import BLOBS_DIR, job_keys, release

        cache = self.home / BLOBS_DIR
        named = (f.source for t in job.tasks for f in t.inputs if isinstance(f, InputFile))
        keys = job_keys(store.dir, named, cache)
        for path in (self.node.job_dir(job_id), store.dir):
            shutil.rmtree(path, ignore_errors=True)
        others = (JobStore(self.home, other).job_file for other in list_job_ids(self.home))
        release(cache, keys, others)  # the blobs no other job still needs

    # -- helpers --------------------------------------------------------------------------

    def container_plan(self, job: ResolvedJob) -> ContainerRun | None:
        """How tasks of ``job`` run: in its image (engine + image present) or on the host."""
        if job.job_id not in self._plans:
            self._plans[job.job_id] = choose_container(
                job,
                use_container=self.use_container,
                engine_name=self.engine_name,
                node_root=self.node.root,
            )
        return self._plans[job.job_id]

    def _store(self, job_id: str) -> JobStore:
        if not is_valid_id(job_id):  # also keeps paths built from it inside the state dir
            raise JobNotFoundError(f"{job_id!r} is not a job id (letters, digits, - and _)")
        return JobStore(self.home, job_id)

    def _homes(self) -> builtins.list[Path]:
        """This state dir first, then every other one the per-user index knows."""
        from superbatch import jobindex

        homes: builtins.list[Path] = [self.home]
        homes += [h for h in jobindex.local_homes() if h != self.home and h.is_dir()]
        return homes

    def state_home(self, job_id: str) -> Path:
        """The state dir that holds (or will hold) ``job_id``."""
        self._locate(job_id)
        return self.home

    def _locate(self, job_id: str) -> JobStore:
        """The job's store: in this state dir, else in the one the index says it lives in
        (from then on this backend works there: node dirs, logs, results)."""
        store = self._store(job_id)
        if store.exists():
            return store
        for home in self._homes()[1:]:
            if JobStore(home, job_id).exists():
                self.home = home
                self.node = NodeLayout(home / "node")
                return self._store(job_id)
        return store

    def _existing_store(self, job_id: str) -> JobStore:
        store = self._locate(job_id)
        if not store.exists():
            raise JobNotFoundError(
                f"no local job {job_id!r} (jobs live in {self.home}; `superbatch jobs --local` "
                "lists them)"
            )
        return store

    def _status(
        self,
        job: ResolvedJob,
        records: dict[str, TaskRecord],
        *,
        alive: bool,
        store: JobStore | None = None,
    ) -> JobStatus:
        return job_status(job, records, node=self.node, alive=alive, store=store)

    def _scheduler(self, job: ResolvedJob, store: JobStore) -> Scheduler:
        return Scheduler(
            job,
            store,
            node=self.node,
            parallel=self.parallel,
            container=self.container_plan(job),
        )
