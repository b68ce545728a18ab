"""LocalBackend: runs a resolved job on this machine the way a Batch node would.

``submit`` records the job in the state dir (``.superbatch/`` or ``$SUPERBATCH_HOME``);
``wait`` runs whatever is not finished yet, in parallel, or follows the process that is
already running it; ``results`` mirrors the collected files into ``results/<job>/`` and
writes the manifest. A re-run of the same job id only runs tasks that did not succeed.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from superbatch.engine import ENGINES, Engine, find_engine
from superbatch.errors import (
    ConfigError,
    JobNotFoundError,
    SpecError,
    SuperBatchError,
    TaskNotStartedError,
)
from superbatch.follow import LogRead
from superbatch.local.execute import ContainerRun, remove_job_containers
from superbatch.local.node import LOCAL_NODE, NodeLayout, collected_path
from superbatch.local.scheduler import Scheduler, kill_leftovers
from superbatch.local.state import JobStore, TaskRecord, default_home, list_job_ids
from superbatch.local.threads import run_split
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    InputFile,
    JobStatus,
    JobSummary,
    ProgressCallback,
    RemoteFile,
    ResolvedJob,
    TaskCounts,
    TaskInfo,
    TaskResult,
    TaskState,
    TaskStatus,
)
from superbatch.plan import Plan
from superbatch.remote import BlobSource
from superbatch.results import Manifest, place_files, previous_files, selects, write_manifest
from superbatch.timings import TaskTimings
from superbatch.validate import is_valid_id

log = logging.getLogger("superbatch.local")
STDERR_TAIL_LINES = 10
FOLLOW_INTERVAL = 0.5
CANCEL_TIMEOUT = 60.0
PLACING_THREADS = 2
LOCAL_NODES = "tasks run on this machine (--local), the pool applies on Azure"


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

        paths = fetch_blobs(remote, self.home / "blobs", self._credential())
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
            for engine in self._engines_to_clean():
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
        store = self._existing_store(job_id)
        job = store.load()
        records = store.records()
        labels = task_labels(job)
        ids = list(labels)
        previous = previous_files(dest, job_id)
        results = []
        placements: list[Callable[[], None]] = []
        tasks_dir = self.node.tasks_dir(job_id)
        job_dest = os.fspath(dest / job_id)
        for task_id in ids:
            record = records.get(task_id, TaskRecord())
            finished = record.state in (TaskState.SUCCEEDED, TaskState.FAILED)
            files = record.files if finished else ()
            if only is not None:
                files = tuple(f for f in files if selects(f.path, only))
            source = functools.partial(collected_path, f"{tasks_dir}/{task_id}")
            if finished and download:
                earlier = tuple(f for f in previous.get(task_id, ()) if selects(f.path, only))
                target = f"{job_dest}/{task_id}"
                placements.append(
                    functools.partial(place_files, target, files, source, previous=earlier)
                )
            elif not download:  # where each file is: the node's copy
                files = tuple(replace(f, url=Path(source(f.path)).as_uri()) for f in files)
            state = record.state if finished else TaskState.QUEUED
            results.append(
                TaskResult(
                    task_id, state, record.exit_code, record.attempts, files, labels[task_id]
                )
            )
        os.makedirs(job_dest, exist_ok=True)
        run_split(placements, PLACING_THREADS)
        tasks = tuple(r for r in results if r.task_id != AGGREGATE_TASK_ID)
        aggregate = next((r for r in results if r.task_id == AGGREGATE_TASK_ID), None)
        write_manifest(dest, Manifest(job_id, self.name, tasks, aggregate))
        return results

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
        from superbatch.timings import AttemptTiming, TaskTimings

        store = self._existing_store(job_id)
        infos = self.tasks(job_id)
        times = store.attempt_times()
        queued = store.created()
        return [
            TaskTimings(
                info.task_id,
                info.label,
                info.state,
                queued,
                tuple(
                    AttemptTiming(n, start, end, code, LOCAL_NODE)
                    for n, start, end, code in times.get(info.task_id, [])
                ),
            )
            for info in infos
        ]

    def tasks(self, job_id: str) -> builtins.list[TaskInfo]:
        store = self._existing_store(job_id)
        job = store.load()
        records = store.records()
        alive = store.runner_alive()
        infos = []
        for task_id, label in task_labels(job).items():
            record = records.get(task_id, TaskRecord())
            state = record.state
            if state == TaskState.RUNNING and not alive:
                state = TaskState.QUEUED
            node = LOCAL_NODE if record.start is not None else None
            info = TaskInfo(task_id, label, state, record.attempts, record.exit_code)
            infos.append(
                replace(info, failure=record.failure, node=node, start=record.start, end=record.end)
            )
        return infos

    def clean(self, job_id: str) -> None:
        store = self._existing_store(job_id)
        if store.runner_alive():
            raise ConfigError(f"job {job_id} is running in another process; stop it first")
        job = store.load()
        if job.image is not None and self.use_container:
            task_ids = [t.id for t in job.tasks] + [AGGREGATE_TASK_ID]
            for engine in self._engines_to_clean():
                remove_job_containers(engine, job_id, task_ids)
        for path in (self.node.job_dir(job_id), store.dir):
            shutil.rmtree(path, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def _engines_to_clean(self) -> tuple[Engine, ...]:
        """The chosen engine, else every engine that answers (a run may have used either)."""
        names = (self.engine_name,) if self.engine_name is not None else ENGINES
        engines: tuple[Engine, ...] = ()
        for name in names:
            with contextlib.suppress(ConfigError):  # not installed or not answering: nothing
                engine = find_engine(name)
                if engine is not None:
                    engines += (engine,)
        return engines

    def container_plan(self, job: ResolvedJob) -> ContainerRun | None:
        """How tasks of ``job`` run: in its image (engine + image present) or on the host."""
        if job.job_id in self._plans:
            return self._plans[job.job_id]
        from superbatch.images.resolve import resolve_local_image

        # Refused as on Azure (untagged, `latest`), with or without a container here: the
        # spec that runs locally is the one that will run on Batch.
        image = None if job.image is None else resolve_local_image(job.image)
        plan: ContainerRun | None = None
        if self.use_container and image is not None:
            engine = find_engine(self.engine_name)  # explicit and not working: ConfigError
            if engine is None:
                log.warning(
                    "no working container engine (docker or podman): running %s's tasks on "
                    "this machine, not in %s",
                    job.name,
                    image,
                )
            elif engine.image_exists(image):
                plan = ContainerRun(engine, image, self.node.root)
            elif self.engine_name is not None:
                raise ConfigError(
                    f"image {image} is not in {engine.name}'s local images: "
                    f"{_get_image_hint(engine.name, image)} first, or use --no-container"
                )
            else:
                log.warning(
                    "image %s is not in %s's local images: running tasks on this machine "
                    "instead (%s to use it; --no-container to silence this)",
                    image,
                    engine.name,
                    _get_image_hint(engine.name, image),
                )
        self._plans[job.job_id] = plan
        return plan

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

    def _scheduler(self, job: ResolvedJob, store: JobStore) -> Scheduler:
        return Scheduler(
            job,
            store,
            node=self.node,
            parallel=self.parallel,
            container=self.container_plan(job),
        )

    def _status(
        self,
        job: ResolvedJob,
        records: dict[str, TaskRecord],
        *,
        alive: bool,
        store: JobStore | None = None,
    ) -> JobStatus:
        tally = dict.fromkeys(TaskState, 0)
        failed = []
        for task in job.tasks:
            record = records.get(task.id, TaskRecord())
            state = record.state
            if state == TaskState.RUNNING and not alive:
                state = TaskState.QUEUED  # interrupted: a re-run (or `wait`) runs it again
            tally[state] += 1
            if state == TaskState.FAILED:
                failed.append(self._task_status(job.job_id, task.id, record, task.label))
        aggregate = None
        if job.aggregate is not None:
            record = records.get(AGGREGATE_TASK_ID, TaskRecord())
            if record.state == TaskState.RUNNING and not alive:
                record = TaskRecord()
            aggregate = self._task_status(job.job_id, AGGREGATE_TASK_ID, record, AGGREGATE_LABEL)
        counts = TaskCounts(
            tally[TaskState.QUEUED],
            tally[TaskState.RUNNING],
            tally[TaskState.SUCCEEDED],
            tally[TaskState.FAILED],
        )
        # A pool the spec names is reported (the same spec runs on Azure), not used.
        pool: dict[str, Any] = {"pool": job.pool, "nodes": LOCAL_NODES} if job.pool else {}
        allow = job.aggregate.allow_failures if job.aggregate else 0
        status = JobStatus(
            job.job_id, "active", counts, tuple(failed), aggregate, allow_failures=allow, **pool
        )
        label = "completed" if status.done else ("active" if alive else "interrupted")
        ended = store.ended() if store is not None else None
        return replace(status, state=ended or label)

    def _task_status(self, job_id: str, task_id: str, record: TaskRecord, label: str) -> TaskStatus:
        tail = ""
        if record.state == TaskState.FAILED:
            stderr = self.node.task_dir(job_id, task_id) / "stderr.txt"
            if stderr.is_file():
                lines = stderr.read_text(encoding="utf-8", errors="replace").splitlines()
                tail = "\n".join(lines[-STDERR_TAIL_LINES:])
        return TaskStatus(
            task_id, record.state, record.exit_code, record.attempts, record.failure, tail, label
        )


def task_labels(job: ResolvedJob) -> dict[str, str]:
    """Task id -> label, in id order, the aggregate step last (as the manifest lists them)."""
    labels = {task.id: task.label for task in job.tasks}
    if job.aggregate is not None:
        labels[AGGREGATE_TASK_ID] = AGGREGATE_LABEL
    return labels


def _get_image_hint(engine: str, image: str) -> str:
    """How to get ``image`` into the engine: pull a registry's image, build a short name.
    ``localhost/...`` (no port) is where podman keeps images built on this machine: there is
    no registry to pull it from."""
    from superbatch.images.reference import parse_image_ref

    if parse_image_ref(image).registry not in (None, "localhost"):
        return f"pull it with `{engine} pull {image}`"
    return "build it with `superbatch image build`"
