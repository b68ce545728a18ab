"""Worker threads that the main thread waits for without ``Thread.join``.

In CPython 3.9 to 3.12, a Ctrl-C (or ``kill``: SIGTERM raises KeyboardInterrupt here) that
lands inside ``Thread.join`` while the thread still runs marks it as stopped (cpython
gh-90882: ``_wait_for_tstate_lock`` releases the lock that the live thread holds). A later
``join`` then returns at once while the thread runs on, and the interpreter can hang on it
at exit; a run of ours hung that way in CI. Waiting on an :class:`threading.Event` that the
last worker sets is interruptible without that effect.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence


class Workers:
    """One thread per target; :meth:`wait` tells when every started one has returned."""

    def __init__(self, targets: Sequence[Callable[[], None]], *, name: str) -> None:
        self._left = len(targets)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(target,), name=f"{name}-{n}")
            for n, target in enumerate(targets)
        ]
        if not targets:
            self._done.set()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        finally:
            self._one_less()

    def _one_less(self, count: int = 1) -> None:
        with self._lock:
            self._left -= count
            if self._left == 0:
                self._done.set()

    def start(self) -> None:
        for started, thread in enumerate(self._threads):
            try:
                thread.start()
            except BaseException:
                self._one_less(len(self._threads) - started)  # these will never run
                raise

    def wait(self, timeout: float | None = None) -> bool:
        """True once every started worker has returned (False: ``timeout`` passed first)."""
        return self._done.wait(timeout)

    def finish(self, on_interrupt: Callable[[], None]) -> None:
        """Wait for every worker to return. A Ctrl-C meanwhile calls ``on_interrupt`` (it
        should make the workers stop) and the wait goes on; it is raised once they have."""
        interrupted = False
        while True:
            try:
                self._done.wait()
                break
            except KeyboardInterrupt:
                interrupted = True
                on_interrupt()
        if interrupted:
            raise KeyboardInterrupt


def run_split(calls: list[Callable[[], None]], threads: int) -> None:
    """Run ``calls`` on ``threads`` threads, each taking every n-th one; raise the first error.

    For file-system work (placing results): creating files is kernel work that the GIL does
    not hold back, so on a disk two threads do it in nearly half the time; plain threads over
    slices, not futures, which cost more per call than the call does. The calling thread
    takes a share itself, so Ctrl-C there stops the others and is raised as it is.
    """
    errors: list[Exception] = []
    stop = threading.Event()

    def run(part: list[Callable[[], None]]) -> None:
        try:
            for call in part:
                if stop.is_set():
                    return
                call()
        except Exception as exc:  # raised again below, in the calling thread
            errors.append(exc)
            stop.set()

    others = [functools.partial(run, calls[n::threads]) for n in range(1, threads)]
    workers = Workers(others, name="superbatch-results")
    try:
        workers.start()
        for call in calls[::threads]:
            if stop.is_set():
                break
            call()
    except BaseException:
        stop.set()
        raise
    finally:
        workers.finish(on_interrupt=stop.set)
    if errors:
        raise errors[0]
