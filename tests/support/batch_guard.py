"""A tripwire for the suite: every answer a Batch client gets must come from a Batch stand-in.

The Batch emulator (and the canned servers of tests/azure/test_errors.py) mark each answer
with :data:`HEADER`. :func:`install` wraps azure-batch's ``BatchClient`` so that every
answer, each attempt before any retry, is checked. One without the mark came from something
else that listened on that port (seen: Azurite answering a Batch request, a body-less
``400`` or its XML ``404``): it is written to the file named by :data:`LOG_ENV`, with the
socket it went out on and who listens at its far end, and (with :data:`STRICT_ENV` set)
raised as :class:`CrossedEndpoints`. The ``batch_answers_come_from_batch`` fixture
(tests/conftest.py) reads the file after each test, because the client may live in a
subprocess, and turns each line into a warning in the run's summary. The one crossing seen
(a proxy's accept loop left blocked on a number that later became the emulator's
listener) is explained and fixed in tests/support/relay.py; the guard stays, so that
another would show at once.

Subprocesses get it through ``guard_site/sitecustomize.py`` on ``PYTHONPATH`` (set by the
same fixture): it installs the wrapper when, and only if, the process imports azure.batch.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HEADER = "x-superbatch-batch-stand-in"
LOG_ENV = "SUPERBATCH_TEST_BATCH_GUARD_LOG"
STRICT_ENV = "SUPERBATCH_TEST_BATCH_GUARD_STRICT"  # set: a crossed answer raises at once
SITE = Path(__file__).resolve().parent / "guard_site"


class CrossedEndpoints(AssertionError):
    """A Batch request was answered by something that is not a Batch stand-in."""


class CrossedWarning(UserWarning):
    """The same, reported in the run's warnings summary (the default: see the module)."""


def check(response: Any) -> None:
    """``raw_response_hook``: refuse an answer without the stand-in's mark."""
    http = response.http_response
    if http.headers.get(HEADER):
        return
    request = response.http_request
    server = http.headers.get("Server") or "no Server header"
    line = (
        f"{request.method} {request.url} was answered {http.status_code} by {server}, not by "
        "a Batch stand-in: a Batch client reached another server (endpoints crossed); "
        f"{_where()}"
    )
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as sink:
            sink.write(f"pid {os.getpid()}: {line}; {_relays()}\n")
    if os.environ.get(STRICT_ENV):
        raise CrossedEndpoints(line)


_sent = threading.local()  # the socket the last request of this thread went out on


def _where() -> str:
    """Which socket the crossed request went out on, and who listens at its other end: the
    port in the URL (a server took it over) or another (the connection itself crossed)."""
    sent = getattr(_sent, "socket", None)
    if sent is None:
        return "socket unknown"
    local, peer, fd = sent
    try:
        listeners = subprocess.run(
            ["ss", "-ltnpH", f"src 127.0.0.1:{peer[1]}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:  # no ss (iproute2) here
        listeners = ""
    return f"sent on fd {fd} from {local[1]} to {peer[1]}, listening there: {listeners or '?'}"


def _relays() -> str:
    """What every other thread of this process that runs test code is doing (proxies,
    emulators): a thread relaying bytes to Azurite on the emulator's socket shows up here."""
    import traceback

    support = str(Path(__file__).resolve().parents[1])  # tests/
    busy = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        ours = [f for f in traceback.extract_stack(frame) if f.filename.startswith(support)]
        if ours:
            busy.append(
                " <- ".join(f"{Path(f.filename).name}:{f.name}:{f.lineno}" for f in ours[::-1][:3])
            )
    return "test threads: " + (" | ".join(sorted(busy)[:16]) if busy else "none")


def _remember_sockets() -> None:
    import urllib3.connection

    connection = urllib3.connection.HTTPConnection
    if getattr(connection, "_superbatch_guarded", False):
        return
    request = connection.request

    def remembering(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent = request(self, *args, **kwargs)
        try:
            _sent.socket = (self.sock.getsockname(), self.sock.getpeername(), self.sock.fileno())
        except (AttributeError, OSError):
            _sent.socket = None
        return sent

    connection.request = remembering  # type: ignore[method-assign]
    connection._superbatch_guarded = True  # type: ignore[attr-defined]


def install() -> None:
    """Check every answer of every ``BatchClient`` made from now on in this process."""
    from azure.batch import BatchClient

    if getattr(BatchClient, "_superbatch_guarded", False):
        return
    _remember_sockets()
    original = BatchClient.__init__

    def guarded_init(self: Any, endpoint: str, credential: Any, **kwargs: Any) -> None:
        theirs = kwargs.get("raw_response_hook")

        def hook(response: Any) -> None:
            check(response)
            if theirs is not None:
                theirs(response)

        kwargs["raw_response_hook"] = hook
        original(self, endpoint, credential, **kwargs)

    BatchClient.__init__ = guarded_init  # type: ignore[method-assign]
    BatchClient._superbatch_guarded = True  # type: ignore[attr-defined]


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs :func:`install` right after ``azure.batch`` is imported (a process that never
    imports it pays nothing: ``superbatch --help`` stays as quick)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname != "azure.batch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            install()

        loader.exec_module = exec_module
        return spec


def install_on_import() -> None:
    if "azure.batch" in sys.modules:
        install()
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
