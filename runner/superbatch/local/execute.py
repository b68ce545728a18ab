"""Running one task attempt: ``/bin/sh -c <command>`` on the host or in a container.

Every attempt runs in its own process group (session), so a timeout or Ctrl-C kills the
shell and everything it started. In a container the node root is mounted at the same path,
the working dir is the task's ``wd/`` and the process runs as the invoking user's uid:gid
(the owner of the task dir), as Batch does it; on timeout the container is killed and
removed too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from superbatch.container_command import CLEAR_ENTRYPOINT, SHELL
from superbatch.engine import Engine


@dataclass(frozen=True)
class Attempt:
    exit_code: int | None  # None when it was killed (timeout, interrupt)
    timed_out: bool = False


@dataclass(frozen=True)
class ContainerRun:
    engine: Engine
    image: str
    node_root: Path


class ProcessTable:
    """The attempts running right now, so an interrupt can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[subprocess.Popen[bytes], ContainerRun | None, str]] = {}
        self.stopping = False

    def add(self, proc: subprocess.Popen[bytes], container: ContainerRun | None, name: str) -> None:
        with self._lock:
            self._running[proc.pid] = (proc, container, name)

    def remove(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.pop(proc.pid, None)

    def kill_all(self) -> None:
        self.stopping = True
        with self._lock:
            running = list(self._running.values())
        for proc, container, name in running:
            kill_attempt(proc, container, name)


def container_name(job_id: str, task_id: str) -> str:
    return f"sb-{job_id}-{task_id}"


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def remove_container(container: ContainerRun, name: str) -> None:
    subprocess.run(
        container.engine.remove_command(name),
        capture_output=True,
        check=False,
        timeout=60,
    )


def remove_job_containers(engine: Engine, job_id: str, task_ids: Iterable[str]) -> None:
    """Remove every container of ``job_id``'s tasks that ``engine`` still has, found by name
    (any process may have started them: a run that was killed leaves them behind)."""
    wanted = {container_name(job_id, task_id) for task_id in task_ids}
    listed = subprocess.run(
        engine.command("ps", "-a", "--filter", f"name=sb-{job_id}-", "--format", "{{.Names}}"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    names = sorted(set(listed.stdout.split()) & wanted)
    if names:
        subprocess.run(
            engine.remove_command(*names),
            capture_output=True,
            check=False,
            timeout=120,
        )


def kill_attempt(proc: subprocess.Popen[bytes], container: ContainerRun | None, name: str) -> None:
    kill_group(proc.pid)
    if container is not None:
        remove_container(container, name)


def run_attempt(
    command: str,
    *,
    task_dir: str,
    env: dict[str, str],
    timeout: float | None,
    container: ContainerRun | None,
    name: str,
    table: ProcessTable,
    on_start: Callable[[int], None] | None = None,
    stdin: int = subprocess.DEVNULL,
) -> Attempt:
    """Run one attempt; stdout/stderr go to ``task_dir/stdout.txt`` and ``stderr.txt``;
    stdin is ``stdin`` (a caller running many tasks passes one open /dev/null for all).

    ``env`` is all the task sees: on the host the whole environment of its process, in a
    container the variables passed with ``-e`` (so there, as on Batch, none of ours).
    """
    working_dir = f"{task_dir}/wd"
    if container is None:
        argv = [*SHELL, command]
        proc_env: dict[str, str] | None = env
        cwd: str | None = working_dir
    else:
        root = str(container.node_root)
        argv = container.engine.command(
            "run", "--rm", "--name", name, "-v", f"{root}:{root}", "-w", working_dir,
            CLEAR_ENTRYPOINT, *container.engine.user_args(),
        )  # fmt: skip
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        argv += [container.image, *SHELL, command]
        proc_env = None  # the engine client runs with ours
        cwd = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    out = os.open(f"{task_dir}/stdout.txt", flags, 0o666)
    try:
        err = os.open(f"{task_dir}/stderr.txt", flags, 0o666)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=proc_env,
                stdin=stdin,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            os.close(err)
    finally:
        os.close(out)
    table.add(proc, container, name)
    try:
        if on_start is not None:
            on_start(proc.pid)
        if table.stopping:
            kill_attempt(proc, container, name)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_attempt(proc, container, name)
            proc.wait()
            return Attempt(None, timed_out=True)
        if table.stopping:
            return Attempt(None)
        # Killed by a signal: 128 + its number, as a shell, a container engine and Batch
        # report it (Popen says -9), so the manifest is the same on every backend.
        return Attempt(code if code >= 0 else 128 - code)
    finally:
        table.remove(proc)
