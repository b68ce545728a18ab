"""The local backend's state dir: what lets another terminal reconnect, and a re-run resume.

::

    <home>/jobs/<job>/job.json      the resolved job (written once, atomically)
    <home>/jobs/<job>/events.jsonl  append-only task events: started / finished / reset
    <home>/jobs/<job>/lock          flock held by the one process running the job's tasks
    <home>/node/...                 the Batch-like node (see superbatch.local.node); a
                                    finished task's outputs and logs stay in its task dir

Events are appended one JSON line at a time, so a killed process leaves at worst a torn
last line, which the reader ignores. A task is only recorded as finished (with the list of
its collected files, sizes and hashes) after its attempt ended and its files were hashed,
so "finished" always means "results available".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from superbatch.detached import lock_is_held
from superbatch.errors import ConfigError, JobNotFoundError
from superbatch.jobfile import job_from_json, job_to_json
from superbatch.model import ResolvedJob, ResultFile, TaskState
from superbatch.results import atomic_write_bytes

HOME_ENV = "SUPERBATCH_HOME"
JOB_EVENT_TASK = "_job"  # events about the whole job use this in place of a task id
JOB_EVENTS = ("cancelled", "stopped")
DEFAULT_HOME = ".superbatch"


def default_home() -> Path:
    """``$SUPERBATCH_HOME``, else ``.superbatch/`` in the current directory (absolute)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).absolute()


@dataclass
class TaskRecord:
    """What the events say about one task."""

    state: TaskState = TaskState.QUEUED
    exit_code: int | None = None
    attempts: int = 0
    failure: str | None = None
    pid: int | None = None  # process group of the attempt that was started last
    files: tuple[ResultFile, ...] = ()  # collected outputs and logs (when finished)
    start: float | None = None  # the last attempt's start and end (epoch seconds)
    end: float | None = None


class JobStore:
    """One job's state files."""

    def __init__(self, home: Path, job_id: str) -> None:
        self.job_id = job_id
        self.dir = home / "jobs" / job_id
        self.job_file = self.dir / "job.json"
        self.events_file = self.dir / "events.jsonl"
        self.lock_file = self.dir / "lock"
        self._events: IO[str] | None = None
        self._append_lock = threading.Lock()

    def exists(self) -> bool:
        return self.job_file.is_file()

    def create(self, job: ResolvedJob) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps(job_to_json(job), separators=(",", ":")).encode()  # C encoder: fast
        atomic_write_bytes(self.job_file, data)

    def load(self) -> ResolvedJob:
        if not self.exists():
            raise JobNotFoundError(f"no local job {self.job_id!r} in {self.dir.parent}")
        try:
            data: dict[str, Any] = json.loads(self.job_file.read_text(encoding="utf-8"))
            return job_from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.job_file} is damaged ({exc}); `clean` the job") from None

    def ended(self) -> str | None:
        """``cancelled`` (by ``cancel``) or ``stopped`` (by ``max_failures``), else None."""
        try:
            text = self.events_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        for kind in JOB_EVENTS:
            if f'"event":"{kind}"' in text:
                return kind
        return None

    @property
    def pid_file(self) -> Path:
        return self.dir / "runner.pid"

    def runner_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def created(self) -> float:
        return self.job_file.stat().st_mtime

    def append(self, *events: dict[str, Any]) -> None:
        """Append events (thread-safe); each is one line, flushed to the OS at once."""
        lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        with self._append_lock:
            if self._events is not None:
                self._events.write(lines)
                self._events.flush()
                return
        with self._open_events() as handle:
            handle.write(lines)

    @contextlib.contextmanager
    def appending(self) -> Iterator[None]:
        """Keep the events file open while a run appends many events."""
        with self._open_events() as handle:
            self._events = handle
            try:
                yield
            finally:
                with self._append_lock:
                    self._events = None

    def _open_events(self) -> IO[str]:
        """Open the events file to append; a torn last line (a kill mid-write) is ended first,
        so the next event starts on a line of its own instead of being lost with it."""
        handle = self.events_file.open("a", encoding="utf-8")
        try:
            with self.events_file.open("rb") as existing:
                existing.seek(0, os.SEEK_END)
                if existing.tell() > 0:
                    existing.seek(-1, os.SEEK_END)
                    if existing.read(1) != b"\n":
                        handle.write("\n")
        except BaseException:
            handle.close()
            raise
        return handle

    def records(self) -> dict[str, TaskRecord]:
        """Task id -> its latest record (tasks without events are missing: queued)."""
        records: dict[str, TaskRecord] = {}
        try:
            text = self.events_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return records
        for line in text.splitlines():
            try:
                event = json.loads(line)
                task, kind = event["task"], event["event"]
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line from a killed process
            if kind in JOB_EVENTS:
                continue
            if kind == "reset":
                records.pop(task, None)
                continue
            record = records.setdefault(task, TaskRecord())
            if kind == "started":
                record.state = TaskState.RUNNING
                record.attempts = event.get("attempt", record.attempts)
                record.pid = event.get("pid")
                record.start, record.end = event.get("time"), None
            elif kind == "finished":
                record.state = TaskState(event["state"])
                record.exit_code = event.get("exit_code")
                record.attempts = event.get("attempts", record.attempts)
                record.failure = event.get("failure")
                record.pid = None
                record.files = tuple(ResultFile(*f) for f in event.get("files", []))
                record.end = event.get("time")
        return records

    def attempt_times(self) -> dict[str, list[tuple[int, float | None, float | None, int | None]]]:
        """Task id -> (attempt, start, end, exit code) of each attempt since its last reset."""
        found: dict[str, dict[int, list[Any]]] = {}
        try:
            text = self.events_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        for line in text.splitlines():
            try:
                event = json.loads(line)
                task, kind = event["task"], event["event"]
            except (ValueError, KeyError, TypeError):
                continue
            if kind == "reset":
                found.pop(task, None)
            elif kind == "started":
                found.setdefault(task, {})[event.get("attempt", 1)] = [
                    event.get("time"),
                    None,
                    None,
                ]
            elif kind == "ended" and event.get("attempt") in found.get(task, {}):
                entry = found[task][event["attempt"]]
                entry[1], entry[2] = event.get("time"), event.get("exit_code")
        return {
            task: [(n, *entry) for n, entry in sorted(attempts.items())]
            for task, attempts in found.items()
        }

    @contextlib.contextmanager
    def runner_lock(self) -> Iterator[bool]:
        """Hold the job's run lock if free; yields False when another process holds it."""
        handle: IO[str] = self.lock_file.open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def runner_alive(self) -> bool:
        """A process holds the run lock (probed shared: see ``detached.lock_is_held``)."""
        return lock_is_held(self.lock_file)


def list_job_ids(home: Path) -> list[str]:
    jobs = home / "jobs"
    if not jobs.is_dir():
        return []
    return sorted(p.name for p in jobs.iterdir() if (p / "job.json").is_file())
