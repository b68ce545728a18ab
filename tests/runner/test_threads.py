"""Ctrl-C while the main thread waits for worker threads (superbatch.local.threads).

``signal.pthread_kill`` delivers SIGINT to the main thread itself, so the KeyboardInterrupt
is raised inside its wait, where CPython 3.9-3.12's ``Thread.join`` would mark a running
thread as stopped (cpython gh-90882) and the wait for it would end early.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

from superbatch import Job, LocalBackend
from superbatch.local.threads import Workers


def _interrupt_main_in(seconds: float) -> None:
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT)).start()


def _running_code(name: str) -> bool:
    """True when some thread is still inside a function called ``name``."""
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_name == name:
                return True
            frame = frame.f_back
    return False


def test_ctrl_c_while_waiting_leaves_a_running_worker_counted_as_running() -> None:
    release, ran, stops = threading.Event(), [], []

    def work() -> None:
        release.wait(10)
        ran.append(1)

    def stop() -> None:
        stops.append(1)
        release.set()

    workers = Workers([work], name="test-worker")
    workers.start()
    _interrupt_main_in(0.2)
    with pytest.raises(KeyboardInterrupt):
        workers.wait(5)
    assert not workers.wait(0.05) and ran == []  # still running, and still known to be
    _interrupt_main_in(0.2)
    with pytest.raises(KeyboardInterrupt):  # raised again, but only once the worker returned
        workers.finish(on_interrupt=stop)
    assert stops == [1] and ran == [1] and workers.wait(0)


def test_ctrl_c_during_a_local_run_returns_only_after_every_slot_stopped(tmp_path: Path) -> None:
    job = Job("sleepy", command="sleep 30 # {n}").add_tasks({"n": n} for n in range(4)).resolve()
    backend = LocalBackend(home=tmp_path / "state", parallel=2, container=False)
    backend.submit(job)
    _interrupt_main_in(1.0)  # both slots are then waiting for their sleep
    with pytest.raises(KeyboardInterrupt):
        backend.wait(job.job_id)
    assert not _running_code("_slot"), "a slot thread was still running when wait returned"
    status = backend.status(job.job_id)
    assert status.state == "interrupted" and status.counts.succeeded == 0
