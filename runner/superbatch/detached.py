"""Starting a process that outlives the command that starts it: the local background runner
(``local/runner.py``) and the Azure watcher (``azure/watcher.py``).

It runs in its own session, so Ctrl-C in the shell that started it, or closing that shell,
never reaches it; its stdout and stderr go to a log file whose last line says how it ended.
Who leads a job is an exclusive flock on a lock file, which :func:`lock_is_held` probes.
"""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path


def lock_is_held(lock_file: Path) -> bool:
    """Whether a process holds ``lock_file``'s exclusive flock (leads the job).

    The probe takes the lock shared, never exclusive: two probes at the same instant (a
    ``status`` while ``wait`` starts a runner or watcher) must not see each other as the
    leader, and a leader starting meanwhile is not turned away."""
    if not lock_file.exists():
        return False
    with lock_file.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, appending its output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def ended_on_its_own(proc: subprocess.Popen[bytes], log: Path, name: str) -> tuple[bool, str]:
    """For ``proc``, which has exited: whether it ended as designed (exit 0 or 1
    with its own last line ``<name> <pid>: ...``: it finished, or found nothing to do),
    and that last line (for the error when it did not)."""
    code = proc.returncode
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    last = lines[-1] if lines else f"exit code {code}"
    return code in (0, 1) and last.startswith(f"{name} {proc.pid}: "), last
