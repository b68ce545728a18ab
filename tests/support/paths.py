"""Where test support keeps the parts it installs (ignored by git, reused across runs)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir(name: str) -> Path:
    """``$SUPERBATCH_TEST_CACHE/<name>`` (default ``<repo>/.cache/<name>``), created."""
    root = Path(os.environ.get("SUPERBATCH_TEST_CACHE", REPO_ROOT / ".cache"))
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold ``<cache>/<name>.lock``: a part built once into the cache is checked and built by
    one process at a time (pytest-xdist workers, or two suites, would otherwise build it at
    once and leave it half-made)."""
    lock = cache_dir(".locks") / f"{name}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
