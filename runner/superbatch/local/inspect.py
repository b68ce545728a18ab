"""The local backend's read-only views that are not status: the dry-run plan, a task's log
as it grows (``logs -f``), one line per task (``tasks``) and every attempt's times."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from superbatch.errors import JobNotFoundError, SuperBatchError
from superbatch.follow import LogRead
from superbatch.local.node import LOCAL_NODE
from superbatch.local.state import TaskRecord
from superbatch.local.status import task_labels
from superbatch.model import (
    AGGREGATE_TASK_ID,
    InputFile,
    RemoteFile,
    ResolvedJob,
    TaskInfo,
    TaskState,
)
from superbatch.plan import Plan
from superbatch.timings import TaskTimings

if TYPE_CHECKING:
    from superbatch.local.backend import LocalBackend


def plan_job(backend: LocalBackend, job: ResolvedJob) -> Plan:
    """What ``submit`` and ``wait`` would do; reads only (no state dir is created)."""
    from superbatch import plan as planning

    store = backend._locate(job.job_id)
    records = store.records() if store.exists() else {}
    done = (TaskState.SUCCEEDED,)
    to_run = [t for t in job.tasks if records.get(t.id, TaskRecord()).state not in done]
    if to_run:
        backend.container_plan(job)  # the image checks a run makes (may refuse or warn)
    sources = {f.source for t in job.tasks for f in t.inputs if isinstance(f, InputFile)} | {
        f.source for f in job.shared
    }
    blobs = {f.url: f.size for t in job.tasks for f in t.inputs if isinstance(f, RemoteFile)}
    aggregate_left = (
        job.aggregate is not None and records.get(AGGREGATE_TASK_ID, TaskRecord()).state not in done
    )
    return planning.Plan(
        job_id=job.job_id,
        backend=backend.name,
        tasks=len(job.tasks),
        preview=planning.preview(job),
        aggregate=job.aggregate is not None,
        exists=store.exists(),
        tasks_to_add=len(to_run) + int(aggregate_left),
        files=sum(len(t.inputs) + len(job.shared) for t in job.tasks),
        bytes_total=sum(os.stat(source).st_size for source in sources) + sum(blobs.values()),
        files_new=0,
        bytes_new=0,
        files_staged=0,
        requests={},
        slots_per_node=backend.parallel,
    )


def read_task_log(
    backend: LocalBackend, job_id: str, task_id: str, *, stream: str, offset: int
) -> LogRead:
    """The task's log from ``offset`` on, straight from its node dir."""
    if stream not in ("stdout", "stderr"):
        raise SuperBatchError(f"unknown log stream {stream!r}: use stdout or stderr")
    store = backend._existing_store(job_id)
    if task_id not in task_labels(store.load()):
        raise JobNotFoundError(f"job {job_id} has no task {task_id!r}")
    alive = store.runner_alive()  # state first: once it says ended, the file is whole
    record = store.records().get(task_id, TaskRecord())
    finished = record.state in (TaskState.SUCCEEDED, TaskState.FAILED)
    started = finished or record.state == TaskState.RUNNING
    ended = finished or not alive or store.ended() is not None
    note = ""
    if not started:
        note = (
            f"task {task_id} has not started yet (queued)"
            if alive
            else f"task {task_id} has not run: job {job_id} is not running"
        )
    path = backend.node.task_dir(job_id, task_id) / f"{stream}.txt"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            restarted = size < offset
            handle.seek(0 if restarted else offset)
            data = handle.read()
    except FileNotFoundError:
        data, restarted = b"", False
    return LogRead(data if started else b"", started, ended, restarted, note)


def task_timings(backend: LocalBackend, job_id: str) -> list[TaskTimings]:
    from superbatch.timings import AttemptTiming, TaskTimings

    store = backend._existing_store(job_id)
    infos = task_infos(backend, job_id)
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


def task_infos(backend: LocalBackend, job_id: str) -> list[TaskInfo]:
    store = backend._existing_store(job_id)
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
