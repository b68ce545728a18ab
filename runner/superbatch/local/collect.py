"""A local job's results: every task's collected files, from its node dir to
``results/<job>/<task>/`` (only what is missing or changed is copied), and the manifest."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.local.node import collected_path
from superbatch.local.state import TaskRecord
from superbatch.local.status import task_labels
from superbatch.local.threads import run_split
from superbatch.model import AGGREGATE_TASK_ID, TaskResult, TaskState
from superbatch.results import Manifest, place_files, previous_files, selects, write_manifest

if TYPE_CHECKING:
    from superbatch.local.backend import LocalBackend

PLACING_THREADS = 2


def collect_results(
    backend: LocalBackend,
    job_id: str,
    dest: Path,
    *,
    only: tuple[str, ...] | None = None,
    download: bool = True,
) -> list[TaskResult]:
    store = backend._existing_store(job_id)
    job = store.load()
    records = store.records()
    labels = task_labels(job)
    ids = list(labels)
    previous = previous_files(dest, job_id)
    results = []
    placements: list[Callable[[], None]] = []
    tasks_dir = backend.node.tasks_dir(job_id)
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
            TaskResult(task_id, state, record.exit_code, record.attempts, files, labels[task_id])
        )
    os.makedirs(job_dest, exist_ok=True)
    run_split(placements, PLACING_THREADS)
    tasks = tuple(r for r in results if r.task_id != AGGREGATE_TASK_ID)
    aggregate = next((r for r in results if r.task_id == AGGREGATE_TASK_ID), None)
    write_manifest(dest, Manifest(job_id, backend.name, tasks, aggregate))
    return results
