"""Ctrl-C while the main thread waits for worker threads (superbatch.local.threads).

``signal.pthread_kill`` delivers SIGINT to the main thread itself, so the KeyboardInterrupt
is raised inside its wait, where CPython 3.9-3.12's ``Thread.join`` would mark a running
thread as stopped (cpython gh-90882) and the wait for it would end early.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from superbatch import Job, LocalBackend
from superbatch.local.threads import Workers


def _interrupt_main_when(ready: Callable[[], bool], timeout: float = 120) -> list[bool]:
    """SIGINT the main thread once ``ready()`` (or after ``timeout``, not to hang the test);
    the list it returns gets True if ``ready()`` was seen."""
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    seen: list[bool] = []

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                seen.append(True)
                break
            time.sleep(0.02)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()
    return seen


def _main_waits_in(name: str) -> Callable[[], bool]:
    """Whether the main thread is inside ``Workers.<name>`` (where the test interrupts it)."""
    main = threading.main_thread().ident

    def inside() -> bool:
        frame = sys._current_frames().get(main or 0)
        while frame is not None:
            code = frame.f_code
            if code.co_name == name and code.co_filename.endswith("threads.py"):
                return True
            frame = frame.f_back
        return False

    return inside


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
        release.wait(120)
        ran.append(1)

    def stop() -> None:
        stops.append(1)
        release.set()

    workers = Workers([work], name="test-worker")
    workers.start()
    # interrupted inside the waits, not after a fixed delay (which a loaded machine can
    # stretch past the start of the wait, or of the test's `pytest.raises`)
    ready = _interrupt_main_when(_main_waits_in("wait"))
    with pytest.raises(KeyboardInterrupt):
        workers.wait(120)
    assert ready == [True]
    assert not workers.wait(0.05) and ran == []  # still running, and still known to be
    ready = _interrupt_main_when(_main_waits_in("finish"))
    with pytest.raises(KeyboardInterrupt):  # raised again, but only once the worker returned
        workers.finish(on_interrupt=stop)
    assert ready == [True]
    assert stops == [1] and ran == [1] and workers.wait(0)


def test_ctrl_c_during_a_local_run_returns_only_after_every_slot_stopped(tmp_path: Path) -> None:
    job = Job("sleepy", command="sleep 30 # {n}").add_tasks({"n": n} for n in range(4)).resolve()
    backend = LocalBackend(home=tmp_path / "state", parallel=2, container=False)
    backend.submit(job)
    events = tmp_path / "state" / "jobs" / job.job_id / "events.jsonl"

    def both_slots_started_their_sleep() -> bool:
        lines = events.read_text().splitlines() if events.exists() else []
        started = [line for line in lines if line.endswith("}") and '"started"' in line]
        return sum(json.loads(line).get("pid") is not None for line in started) >= 2

    # not a fixed delay: on a loaded machine the slots may not have started in a second
    ready = _interrupt_main_when(both_slots_started_their_sleep)
    with pytest.raises(KeyboardInterrupt):
        backend.wait(job.job_id)
    assert ready == [True], "the two slots never started their tasks"
    assert not _running_code("_slot"), "a slot thread was still running when wait returned"
    status = backend.status(job.job_id)
    assert status.state == "interrupted" and status.counts.succeeded == 0
