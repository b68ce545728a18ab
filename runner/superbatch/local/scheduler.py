"""Runs a job's unfinished tasks in parallel, then its aggregate step.

Per task: fresh task dir, inputs and shared files staged into ``wd/``, ``/bin/sh -c`` with
the Batch environment, retries, timeout; then its outputs (by pattern) and logs are listed
and hashed, and only then is the task recorded as finished, with that file list. An
interrupt kills every running process group; what was not recorded as finished runs again
next time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from superbatch.digest import file_sha256
from superbatch.errors import SuperBatchError
from superbatch.local.execute import (
    Attempt,
    ContainerRun,
    ProcessTable,
    container_name,
    kill_group,
    remove_container,
    run_attempt,
)
from superbatch.local.node import (
    NodeLayout,
    collected_path,
    copy_files,
    prepare_task_dir,
    task_env,
)
from superbatch.local.state import JOB_EVENT_TASK, JobStore, TaskRecord
from superbatch.local.threads import Workers
from superbatch.model import (
    AGGREGATE_TASK_ID,
    InputFile,
    ProgressCallback,
    ResolvedJob,
    ResultFile,
    TaskCounts,
    TaskSpec,
    TaskState,
    exit_failure,
)
from superbatch.patterns import match_outputs
from superbatch.policy import aggregate_may_run, stop_reason
from superbatch.results import EMPTY_SHA256
from superbatch.validate import LOGS_DIR, LOGS_PREFIX, format_duration

REPORT_INTERVAL = 0.1
LOG_PATHS = (f"{LOGS_DIR}/stdout.txt", f"{LOGS_DIR}/stderr.txt")  # as in results/<job>/<task>/


class Interrupted(Exception):
    """The run is stopping (Ctrl-C): the attempt was killed and is not recorded."""


class Scheduler:
    def __init__(
        self,
        job: ResolvedJob,
        store: JobStore,
        *,
        node: NodeLayout,
        parallel: int,
        container: ContainerRun | None,
    ) -> None:
        self.job = job
        self.store = store
        self.node = node
        self.parallel = parallel
        self.container = container
        self.table = ProcessTable()
        self._lock = threading.Lock()
        self._tally: dict[TaskState, int] = dict.fromkeys(TaskState, 0)
        self._tasks_dir = node.tasks_dir(job.job_id)
        # What every task of the job sees, built once (per task only the task's own
        # variables are added): on the host this process's environment too, in a container
        # only what Batch would set.
        job_env = {**node.job_env(job.job_id), **job.env}
        self._base_env = job_env if container is not None else {**os.environ, **job_env}
        self._timeout = job.timeout.total_seconds() if job.timeout else None
        self._stdin = -1  # /dev/null while run() runs
        self._stopped = False  # max_failures reached
        aggregate = job.aggregate
        self._success_outputs_only = aggregate is not None and aggregate.allow_failures != 0

    def run(self, progress: ProgressCallback | None) -> None:
        records = self.store.records()
        self._clear_leftovers(records)
        self.node.shared_dir.mkdir(parents=True, exist_ok=True)
        os.makedirs(self._tasks_dir, exist_ok=True)
        self._stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # one for all tasks
        try:
            with self.store.appending():
                self._run(records, progress)
        finally:
            os.close(self._stdin)

    def _run(self, records: dict[str, TaskRecord], progress: ProgressCallback | None) -> None:
        pending = []
        for task in self.job.tasks:
            state = records.get(task.id, TaskRecord()).state
            if state in (TaskState.SUCCEEDED, TaskState.FAILED):
                self._tally[state] += 1
            else:
                self._tally[TaskState.QUEUED] += 1
                pending.append(task)
        try:
            self._run_tasks(pending, progress)
            agg = self.job.aggregate
            failed = self._tally[TaskState.FAILED]
            if (
                agg is not None
                and not self._stopped
                and aggregate_may_run(failed, agg.allow_failures)
            ):
                record = self.store.records().get(AGGREGATE_TASK_ID, TaskRecord())
                if record.state not in (TaskState.SUCCEEDED, TaskState.FAILED):
                    self._run_aggregate()
        except BaseException:
            self.table.kill_all()
            raise

    def _counts(self) -> TaskCounts:
        with self._lock:
            t = self._tally
            return TaskCounts(
                t[TaskState.QUEUED], t[TaskState.RUNNING], t[TaskState.SUCCEEDED],
                t[TaskState.FAILED],
            )  # fmt: skip

    def _move(self, old: TaskState, new: TaskState) -> None:
        with self._lock:
            self._tally[old] -= 1
            self._tally[new] += 1

    def _run_tasks(self, pending: list[TaskSpec], progress: ProgressCallback | None) -> None:
        """Run ``pending`` in id order on ``parallel`` slots; report counts every tick.

        Each slot is a thread that takes the next task from one shared iterator and runs it
        to the end (the thread waits in the kernel while the task runs). The first error in
        a slot, or Ctrl-C here, kills every running task and is raised here once every slot
        has stopped (a second Ctrl-C does not cut that wait short: a slot may be starting a
        process or removing a container; :mod:`superbatch.local.threads` says why no join).
        ``progress`` gets the counts every :data:`REPORT_INTERVAL` and once at the end,
        changed or not, as Azure polls do.
        """
        report = progress or (lambda counts: None)
        report(self._counts())
        if not pending:
            return
        feed = iter(pending)  # next() on a list iterator is atomic: no task runs twice
        errors: list[BaseException] = []
        # A task takes `slots` of the `--parallel` slots (Batch's requiredSlots on a node).
        count = min(max(1, self.parallel // self.job.slots), len(pending))
        slot = functools.partial(self._slot, feed, errors)
        slots = Workers([slot] * count, name="superbatch-task")
        try:
            slots.start()
            while not slots.wait(REPORT_INTERVAL):
                report(self._counts())
        except BaseException:
            self.table.kill_all()
            slots.finish(on_interrupt=self.table.kill_all)
            raise
        report(self._counts())
        if errors:
            raise errors[0]

    def _slot(self, feed: Iterator[TaskSpec], errors: list[BaseException]) -> None:
        shared = self.job.shared
        try:
            for task in feed:
                if self.table.stopping:
                    return
                # LocalBackend.submit stored blobs as downloaded files: only InputFile here
                inputs = cast("tuple[InputFile, ...]", task.inputs)
                files = (*shared, *inputs) if inputs else shared
                self._run_one(task.id, task.command, task.env, files, None)
        except Interrupted as exc:
            if not self._stopped:  # stopped by max_failures: not an error of this run
                errors.append(exc)
                self.table.kill_all()
        except BaseException as exc:  # raised again by _run_tasks, in the main thread
            errors.append(exc)
            self.table.kill_all()

    def _run_aggregate(self) -> None:
        assert self.job.aggregate is not None
        records = self.store.records()

        def stage(working_dir: Path) -> None:
            """Every task's outputs (not logs) under ``results/<task>/``, as copies."""
            (working_dir / "results").mkdir()  # there even when no task has outputs (as on Azure)
            pairs = []
            for task in self.job.tasks:
                if records[task.id].state != TaskState.SUCCEEDED:
                    continue  # allow_failures: the step runs over the tasks that succeeded
                task_dir = f"{self._tasks_dir}/{task.id}"
                for item in records[task.id].files:
                    if not item.path.startswith(LOGS_PREFIX):
                        target = working_dir / "results" / task.id / item.path
                        pairs.append((collected_path(task_dir, item.path), target))
            copy_files(pairs)

        self._run_one(
            AGGREGATE_TASK_ID,
            self.job.aggregate.command,
            {},
            self.job.shared,
            stage,
            outputs=self.job.aggregate.outputs,
            counted=False,
        )

    def _run_one(
        self,
        task_id: str,
        command: str,
        env: dict[str, str],
        files: tuple[InputFile, ...],
        stage: Callable[[Path], None] | None,
        *,
        outputs: tuple[str, ...] | None = None,
        counted: bool = True,
    ) -> None:
        """Run one task (``env``: its own variables) with retries, collect and record it."""
        if self.table.stopping:
            raise Interrupted()
        task_dir = f"{self._tasks_dir}/{task_id}"
        full_env = {**self._base_env, **task_env(task_id, task_dir), **env}
        name = container_name(self.job.job_id, task_id)
        attempts = 0
        result = Attempt(None)
        try:
            for attempt in range(1, self.job.retries + 2):
                attempts = attempt
                working_dir = prepare_task_dir(task_dir, files)
                if stage is not None:
                    stage(Path(working_dir))
                if counted and attempt == 1:
                    self._move(TaskState.QUEUED, TaskState.RUNNING)
                result = run_attempt(
                    command,
                    task_dir=task_dir,
                    env=full_env,
                    timeout=self._timeout,
                    container=self.container,
                    name=name,
                    table=self.table,
                    on_start=functools.partial(self._started, task_id, attempt),
                    stdin=self._stdin,
                )
                if self.table.stopping:
                    raise Interrupted()
                self.store.append(
                    {
                        "task": task_id,
                        "event": "ended",
                        "attempt": attempt,
                        "exit_code": result.exit_code,
                        "timed_out": result.timed_out,
                        "time": time.time(),
                    }
                )
                if result.exit_code == 0 or not self.job.policy.retryable(result.exit_code):
                    break
            patterns = self.job.outputs if outputs is None else outputs
            if result.exit_code != 0 and self._success_outputs_only and counted:
                patterns = ()  # allow_failures: a failed task keeps its logs, not its outputs
            kept = self._collect(task_dir, patterns)
        except OSError as exc:
            raise SuperBatchError(f"task {task_id}: {exc}") from exc
        state = TaskState.SUCCEEDED if result.exit_code == 0 else TaskState.FAILED
        failure = None
        if result.timed_out:
            assert self.job.timeout is not None
            failure = f"timed out after {format_duration(self.job.timeout)}"
        elif result.exit_code != 0:
            failure = exit_failure(result.exit_code)
        if failure is not None and attempts > 1:
            failure += f" (after {attempts} attempts)"
        self.store.append(
            {
                "task": task_id,
                "event": "finished",
                "state": str(state),
                "exit_code": result.exit_code,
                "attempts": attempts,
                "failure": failure,
                "files": [[f.path, f.size, f.sha256] for f in kept],
                "time": time.time(),
            }
        )
        if counted:
            self._move(TaskState.RUNNING, state)
            if state == TaskState.FAILED:
                self._stop_if_too_many()

    def _stop_if_too_many(self) -> None:
        """max_failures: once more tasks failed for good than allowed, stop the job (its
        running attempts are killed, nothing more starts; it is recorded as stopped)."""
        policy = self.job.policy
        with self._lock:
            if self._stopped or not policy.too_many(self._tally[TaskState.FAILED]):
                return
            self._stopped = True
        assert policy.max_failures is not None
        reason = stop_reason(policy.max_failures)
        self.store.append(
            {"task": JOB_EVENT_TASK, "event": "stopped", "reason": reason, "time": time.time()}
        )
        self.table.kill_all()

    def _started(self, task_id: str, attempt: int, pid: int) -> None:
        event = {"task": task_id, "event": "started", "attempt": attempt, "pid": pid}
        self.store.append({**event, "time": time.time()})

    def _collect(self, task_dir: str, patterns: tuple[str, ...]) -> tuple[ResultFile, ...]:
        """The outputs (by pattern) and logs of a finished attempt, with sizes and hashes."""
        paths = match_outputs(Path(f"{task_dir}/wd"), patterns) if patterns else []
        paths += LOG_PATHS
        kept = []
        for relative in sorted(paths):
            path = collected_path(task_dir, relative)
            try:
                info = os.stat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                size = info.st_size
                digest = file_sha256(path) if size else EMPTY_SHA256
                kept.append(ResultFile(relative, size, digest))
        return tuple(kept)

    def _clear_leftovers(self, records: dict[str, TaskRecord]) -> None:
        """Kill what a killed run left behind (its process groups, its containers)."""
        kill_leftovers(self.node, self.job.job_id, records)
        for task_id, record in records.items():
            if record.state != TaskState.RUNNING:
                continue
            if self.container is not None:
                remove_container(self.container, container_name(self.job.job_id, task_id))


def kill_leftovers(node: NodeLayout, job_id: str, records: dict[str, TaskRecord]) -> None:
    """Kill the process groups of attempts recorded as running (a killed run's), each only
    if it still is that task's (its environment or command line names the task dir)."""
    for task_id, record in records.items():
        if record.state != TaskState.RUNNING or record.pid is None:
            continue
        marker = str(node.task_dir(job_id, task_id)).encode()
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{record.pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
            if marker in environ or marker in cmdline:
                kill_group(record.pid)
