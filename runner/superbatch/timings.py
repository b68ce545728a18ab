"""When each task attempt ran, and where: ``results/<job>/timings.json`` beside the manifest.

The manifest stays free of timings (so it is the same on every backend); timings live in
their own file. Locally every attempt's start and end come from the job's event log; on
Azure Batch from each task's execution info (creation time, start, last retry, end and
node). Batch keeps only the first start and the last retry's start of a task retried more
than once: the attempts in between share that span evenly and are marked approximate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superbatch.model import TaskState

if TYPE_CHECKING:
    from superbatch.backend import Backend

TIMINGS_NAME = "timings.json"
TIMINGS_VERSION = 1


@dataclass(frozen=True, slots=True)
class AttemptTiming:
    attempt: int
    start: float | None  # epoch seconds
    end: float | None
    exit_code: int | None = None
    node: str | None = None
    approximate: bool = False

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class TaskTimings:
    task_id: str
    label: str
    state: TaskState
    queued: float | None  # when the task was added
    attempts: tuple[AttemptTiming, ...] = ()


def spread_attempts(
    count: int,
    *,
    start: float | None,
    last_retry: float | None,
    end: float | None,
    exit_code: int | None,
    node: str | None,
) -> tuple[AttemptTiming, ...]:
    """Attempts of a task Batch retried ``count - 1`` times, from the times it keeps."""
    if count <= 0 or start is None:
        return ()
    if count == 1 or last_retry is None:
        return (AttemptTiming(1, start, end, exit_code, node),)
    earlier = count - 1
    step = (last_retry - start) / earlier
    attempts = [
        AttemptTiming(i + 1, start + i * step, start + (i + 1) * step, None, node, True)
        for i in range(earlier)
    ]
    attempts.append(AttemptTiming(count, last_retry, end, exit_code, node))
    return tuple(attempts)


def timings_json(job_id: str, backend: str, tasks: list[TaskTimings]) -> dict[str, Any]:
    return {
        "version": TIMINGS_VERSION,
        "job_id": job_id,
        "backend": backend,
        "tasks": [
            {
                "task": t.task_id,
                "label": t.label,
                "state": str(t.state),
                "queued": t.queued,
                "attempts": [
                    {
                        "attempt": a.attempt,
                        "start": a.start,
                        "end": a.end,
                        "exit_code": a.exit_code,
                        "node": a.node,
                        "approximate": a.approximate,
                    }
                    for a in t.attempts
                ],
            }
            for t in tasks
        ],
    }


def write_timings(backend: Backend, job_id: str, results_root: Path) -> Path:
    """``results/<job>/timings.json``, written atomically."""
    from superbatch.results import atomic_write_bytes

    data = timings_json(job_id, backend.name, backend.timings(job_id))
    path = results_root / job_id / TIMINGS_NAME
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    return path
