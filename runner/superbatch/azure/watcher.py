"""The background watcher of an Azure job: the runner's monitor when no terminal follows it.

Batch runs a job whether anyone watches or not, but some policies are the runner's to apply
(``azure/enforce.py``: runner retries, ``max_failures``, a deferred aggregate, the end of a
watched job) and so is the cold-start re-arm of the pool (``azure/rearm.py``). ``run
--detach`` starts a watcher, and ``wait`` starts one again when none is alive; like the
local backend's background runner (``local/runner.py``) it is
``python -m superbatch.azure.watcher JOB --stack NAME | --outputs FILE`` in its own session
(no terminal: Ctrl-C in the shell that started it, or closing that shell, never reaches it).

Exactly one leads a job: it holds the flock of the job's watch dir (per user, beside the
job index), writes its pid there and logs to ``watcher.log``::

    <state>/superbatch/watch/<account>-<job>/lock, watcher.pid, watcher.log

A foreground ``run`` (or a ``wait`` finding no watcher) takes the same lock and leads from
its own process. The watcher ends when the job does.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from superbatch import detached
from superbatch.errors import SuperBatchError

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend
    from superbatch.azure.rearm import Clock

LOG_NAME = "watcher.log"
PID_NAME = "watcher.pid"  # "<pid> <role>" of the job's current or last lead
WATCHER_ROLE = "watcher"
START_TIMEOUT = 60.0
# How long a starting watcher tries to take the lead: what holds the lock that long is a
# leader, not a probe (alive(), taken for an instant by `status`, `wait`, start_watcher).
LEAD_PATIENCE = 2.0
# A test's or benchmark's clock for the re-arm (the Batch emulator's, served over http by
# tests/support/clock_server.py): unset, the re-arm runs on wall time.
CLOCK_ENV = "SUPERBATCH_TEST_CLOCK"


def watch_dir(batch_url: str, job_id: str) -> Path:
    """The job's watch dir: per user (beside the job index), per Batch account and job."""
    from superbatch.jobindex import index_path

    account = hashlib.sha256(batch_url.rstrip("/").encode()).hexdigest()[:10]
    return index_path().parent / "watch" / f"{account}-{job_id}"


class JobLock:
    """The job's lead: a non-blocking flock held as long as this object is."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._handle: IO[str] | None = None

    def acquire(self, role: str | None = "monitor", *, patience: float = 0.0) -> bool:
        """Take the lead; the pid file then names this process and its ``role``, so only a
        watcher is ever stopped by its pid. ``patience``: seconds to try again while the
        lock is taken (a probe, :func:`alive`, holds it for an instant; a leader all along)."""
        if self._handle is not None:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = (self.folder / "lock").open("a+")
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return False
                time.sleep(0.05)
        self._handle = handle
        if role is not None:
            (self.folder / PID_NAME).write_text(f"{os.getpid()} {role}\n")
        return True

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


def alive(folder: Path) -> bool:
    """Someone leads the job (a watcher, or a foreground ``run``/``wait``)."""
    return detached.lock_is_held(folder / "lock")


def watcher_pid(folder: Path) -> int | None:
    """The pid of the job's last lead if that was a background watcher (None otherwise)."""
    try:
        pid, role = (folder / PID_NAME).read_text().split()
        return int(pid) if role == WATCHER_ROLE else None
    except (OSError, ValueError):
        return None


def stop_watcher(folder: Path, timeout: float = 15.0) -> bool:
    """Stop the job's background watcher, if one leads it, and wait until it let go (``clean``
    deletes the job next: a watcher left behind would only fail on the missing job). A
    foreground ``run``/``wait`` leading the job is never signalled: it sees the job go."""
    pid = watcher_pid(folder)
    if pid is None or not alive(folder):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while alive(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def start_watcher(where: list[str], folder: Path, job_id: str) -> int | None:
    """Start a watcher for ``job_id`` unless the job has a leader; returns its pid once it
    leads (None: one was there already, or it found the job ended)."""
    if alive(folder):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "superbatch.azure.watcher", job_id, *where]
    argv += ["--dir", str(folder)]  # it takes the lead before its slow imports
    log = folder / LOG_NAME
    proc = detached.spawn(argv, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not (alive(folder) and watcher_pid(folder) == proc.pid):
        if proc.poll() is not None:
            ended, last = detached.ended_on_its_own(proc, log, "watcher")
            if ended:
                return None  # the job ended before we looked, or another leads it
            raise SuperBatchError(f"the watcher of {job_id} stopped: {last}")
        if time.monotonic() > deadline:
            raise SuperBatchError(
                f"the watcher of {job_id} did not start in {START_TIMEOUT:.0f} s (see {log})"
            )
        time.sleep(0.05)
    return proc.pid


def clock_from_env() -> Clock:
    """Wall time, or the clock ``SUPERBATCH_TEST_CLOCK`` serves (tests and benchmarks)."""
    from superbatch.azure import rearm

    url = os.environ.get(CLOCK_ENV)
    if not url:
        return rearm.WALL_CLOCK
    import urllib.request

    def now() -> float:
        with urllib.request.urlopen(f"{url}/now", timeout=30) as answer:
            return float(answer.read())

    def sleep(seconds: float) -> None:
        request = urllib.request.Request(f"{url}/advance?seconds={seconds}", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    return rearm.Clock(now=now, sleep=sleep)


def _lead(lock: JobLock, pid: int, job_id: str) -> bool:
    # a probe of another command may hold the lock as this watcher starts: not a leader
    if not lock.acquire(role=WATCHER_ROLE, patience=LEAD_PATIENCE):
        print(f"watcher {pid}: another process leads job {job_id}", flush=True)
        return False
    return True


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def open_backend(args: argparse.Namespace) -> AzureBatchBackend:
    from superbatch.azure.backend import AzureBatchBackend

    clock = clock_from_env()
    if args.outputs is not None:
        return AzureBatchBackend.from_outputs_file(args.outputs, cold_start=clock)
    return AzureBatchBackend.from_stack(args.stack, cold_start=clock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m superbatch.azure.watcher")
    parser.add_argument("job_id")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack")
    where.add_argument("--outputs", type=Path)
    parser.add_argument("--dir", type=Path, help="the job's watch dir (default: computed)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    pid = os.getpid()
    try:
        lock = JobLock(args.dir) if args.dir is not None else None
        if lock is not None and not _lead(lock, pid, args.job_id):
            return 0
        backend = open_backend(args)
        if lock is None:
            lock = JobLock(watch_dir(backend.outputs.batch_account_endpoint, args.job_id))
            if not _lead(lock, pid, args.job_id):
                return 0
        status = backend.lead(args.job_id, lock, rearm_pool=True)
    except KeyboardInterrupt:
        print(f"watcher {pid}: stopped", flush=True)
        return 130
    except SuperBatchError as exc:
        print(f"error: {exc}", flush=True)
        return exc.exit_code
    print(f"watcher {pid}: {status.state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
