"""The resolved job: what every backend receives and reports on.

A job spec (TOML or the :class:`superbatch.Job` API) is validated and *resolved* into a
:class:`ResolvedJob` before anything runs or anything remote is created. Backends only
ever see resolved jobs: every placeholder is filled in, every input file exists, ids are
valid for Batch. Status and results come back as the small dataclasses below, which the
CLI renders (rich for people, ``--json`` for scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from superbatch.policy import FailurePolicy

AGGREGATE_TASK_ID = "_aggregate"
AGGREGATE_LABEL = "aggregate step"
MAX_LABEL_LENGTH = 1024  # Batch's limit for a task's displayName, where Azure keeps it


def row_label(row: dict[str, str]) -> str:
    """A CSV row's label: ``seed=3 lr=0.1`` (columns in order), cut to Batch's limit."""
    return " ".join(f"{key}={value}" for key, value in row.items())[:MAX_LABEL_LENGTH]


@dataclass(frozen=True, slots=True)
class InputFile:
    """A local file staged into a task's working directory at ``dest`` (relative, POSIX)."""

    source: Path
    dest: str


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A blob already in Azure Storage, staged into the working dir at ``dest``.

    ``url`` is the blob's https URL (no SAS); ``etag`` is what it was when the job was
    resolved, so the job id changes when the blob does. Nodes fetch it with their own
    identity and nothing passes through the machine that submits the job.
    """

    url: str
    dest: str
    etag: str
    size: int
    source: str  # as the spec names it: az://account/container/name


StagedFile = InputFile | RemoteFile


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task: a shell command (always run as ``/bin/sh -c command``) and its inputs."""

    id: str
    command: str
    env: dict[str, str] = field(default_factory=dict)
    inputs: tuple[StagedFile, ...] = ()
    label: str = ""  # what people recognise it by: its input's path, or `seed=3 lr=0.1`


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """The reduce step: runs after every task, with all task outputs under ``results/<task>/``."""

    command: str
    outputs: tuple[str, ...] = ()
    allow_failures: int = 0  # tasks that may fail with the step still running; -1: any


@dataclass(frozen=True, slots=True)
class ResolvedJob:
    """A validated job, ready for any backend."""

    job_id: str
    name: str
    image: str | None
    tasks: tuple[TaskSpec, ...]
    outputs: tuple[str, ...]
    shared: tuple[InputFile, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    timeout: timedelta | None = None
    aggregate: AggregateSpec | None = None
    pool: str | None = None  # the stack pool it runs on; None: "default"
    slots: int = 1  # task slots each task takes (Batch requiredSlots)
    policy: FailurePolicy = field(default_factory=FailurePolicy)


DEFAULT_POOL = "default"


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TaskCounts:
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.running + self.succeeded + self.failed

    @property
    def done(self) -> bool:
        return self.queued == 0 and self.running == 0


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_id: str
    state: TaskState
    exit_code: int | None = None
    attempts: int = 0
    failure: str | None = None  # one line: why it failed (exit code, timeout, upload error...)
    stderr_tail: str = ""
    label: str = ""


# A job in one of these states runs nothing more, whatever its counts say (tasks that
# never started stay queued): Batch's `completed` (also after terminate), `cancelled`.
ENDED_JOB_STATES = frozenset({"completed", "cancelled", "stopped"})


@dataclass(frozen=True, slots=True)
class PoolState:
    """The compute pool as the job sees it while tasks wait for nodes (Azure only).

    ``problem`` is one line saying what stops nodes and what to do; ``stuck`` means no node
    can come while tasks wait (the job cannot progress until someone acts).
    """

    pool_id: str
    allocation_state: str  # "steady" | "resizing" | "stopping"
    current: int  # dedicated + Spot nodes the pool has
    target: int  # what it is resizing to
    spot: bool  # the target is Spot (low-priority) nodes
    nodes: dict[str, int] | None = None  # node state -> count, once read
    next_evaluation_seconds: float | None = None  # autoscale, on the service's clock
    problem: str | None = None
    stuck: bool = False

    def shape(self) -> PoolState:
        """The state without its countdown: what a change worth a new line is judged by."""
        return replace(self, next_evaluation_seconds=None)

    def line(self) -> str:
        """One line for people: what the pool is doing for this job."""
        if self.problem is not None:
            return self.problem
        text = f"pool {self.pool_id} {self.current} -> {self.target}"
        if self.next_evaluation_seconds is not None:
            minutes = max(1, round(self.next_evaluation_seconds / 60))
            text += f" (next autoscale evaluation in about {minutes} min)"
        if self.nodes:
            text += ": " + ", ".join(f"{n} {state}" for state, n in sorted(self.nodes.items()))
        ready = self.nodes is not None and any(
            self.nodes.get(state, 0) for state in ("idle", "running")
        )
        return text if ready else f"waiting for nodes: {text}"


@runtime_checkable
class PoolProgress(Protocol):
    """A progress callback that also shows the pool (``run``/``wait`` on Azure)."""

    def pool(self, state: PoolState) -> None: ...


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: str
    state: str  # "active" | "completed" | "terminating" | ...
    counts: TaskCounts
    failed: tuple[TaskStatus, ...] = ()
    aggregate: TaskStatus | None = None  # None when the job has no aggregate step
    pool: str | None = None  # the pool the job runs on (None: not known, e.g. an old job)
    nodes: str | None = None  # one line on the pool's nodes while tasks wait for them
    allow_failures: int = 0  # [aggregate] allow_failures (-1: any)
    pool_state: PoolState | None = None  # Azure: the pool, read while tasks wait for nodes

    @property
    def done(self) -> bool:
        """Every task finished and the aggregate step (if any) finished or cannot run, or
        the job was ended (cancelled, stopped): nothing more will run."""
        if self.state in ENDED_JOB_STATES:
            return True
        if not self.counts.done:
            return False
        if self.aggregate is None or not self.aggregate_may_run:
            return True
        return self.aggregate.state in (TaskState.SUCCEEDED, TaskState.FAILED)

    @property
    def ok(self) -> bool:
        """Done, nothing failed (or, with ``allow_failures``, the aggregate step ran over
        the tasks that succeeded and succeeded itself)."""
        if self.aggregate is None:
            return self.done and self.counts.done and self.counts.failed == 0
        agg_ok = self.aggregate.state == TaskState.SUCCEEDED
        return self.done and self.counts.done and self.aggregate_may_run and agg_ok

    @property
    def aggregate_may_run(self) -> bool:
        from superbatch.policy import aggregate_may_run

        return aggregate_may_run(self.counts.failed, self.allow_failures)


@dataclass(frozen=True, slots=True)
class JobSummary:
    job_id: str
    state: str
    counts: TaskCounts
    created: str | None = None  # ISO-8601


@dataclass(frozen=True, slots=True)
class ResultFile:
    path: str  # relative to results/<job>/<task>/, POSIX
    size: int
    sha256: str  # "" when not downloaded (``results --no-download``)
    url: str | None = None  # where it is stored, with ``results --no-download``


@dataclass(frozen=True, slots=True)
class TaskResult:
    task_id: str
    state: TaskState
    exit_code: int | None
    attempts: int
    files: tuple[ResultFile, ...] = ()
    label: str = ""


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """One line of ``superbatch tasks``: a task's state, label and its last attempt."""

    task_id: str
    label: str
    state: TaskState
    attempts: int = 0
    exit_code: int | None = None
    failure: str | None = None
    node: str | None = None
    start: float | None = None  # last attempt, epoch seconds
    end: float | None = None

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


def describe_exit(code: int | None) -> str:
    """``0``, ``3``; a signal-killed process as ``killed by SIGKILL``, whether the OS says so
    (-9) or a shell or container engine does (137 = 128 + 9)."""
    import signal

    if code is None:
        return "-"
    number = -code if code < 0 else code - 128 if 128 < code < 128 + 65 else 0
    try:
        name = signal.Signals(number).name if number else None
    except ValueError:
        name = None
    if name is None:
        return str(code)
    return f"killed by {name}" if code < 0 else f"killed by {name} (exit code {code})"


def exit_failure(code: int | None) -> str:
    """The one-line reason of a failed attempt with this exit code."""
    text = describe_exit(code)
    return text if text.startswith("killed") else f"exit code {text}"


ProgressCallback = Callable[[TaskCounts], None]
TaskIter = Iterator[TaskSpec]
