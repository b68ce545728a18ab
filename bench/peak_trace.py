"""Where a process's memory is at its peak: ``tracemalloc`` snapshots taken as the traced
total grows, the last one (the peak, within ``STEP``) written out by line and by traceback
as the process exits.

``start(path)`` in the process to measure (``bench_end_to_end`` does it in its runner when
``E2E_TRACEMALLOC=FILE`` is set). Tracing slows the process several times: use small jobs.
"""

from __future__ import annotations

import atexit
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 16
STEP = 1.05  # a new snapshot once the traced total is 5% above the last one's
POLL_SECONDS = 0.2
TOP = 40


class _Peak:
    def __init__(self) -> None:
        self.size = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.at = 0.0
        self.began = time.monotonic()
        self.lock = threading.Lock()

    def sample(self) -> None:
        current, _ = tracemalloc.get_traced_memory()
        with self.lock:
            if current > self.size * STEP:
                self.snapshot = tracemalloc.take_snapshot()
                self.size = current
                self.at = time.monotonic() - self.began

    def watch(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            self.sample()

    def report(self, path: str) -> None:
        self.sample()
        if self.snapshot is None:
            return
        snapshot = self.snapshot.filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
        )
        _, peak = tracemalloc.get_traced_memory()
        lines = [
            f"snapshot at {self.at:.1f} s: {self.size / 1e6:.1f} MB traced"
            f" (peak traced {peak / 1e6:.1f} MB)",
            "",
            "== by line ==",
        ]
        for stat in snapshot.statistics("lineno")[:TOP]:
            lines.append(f"{stat.size / 1e6:8.2f} MB {stat.count:9d} blocks  {stat.traceback[0]}")
        lines += ["", "== by traceback =="]
        for stat in snapshot.statistics("traceback")[:TOP]:
            lines.append(f"{stat.size / 1e6:8.2f} MB {stat.count:9d} blocks")
            lines += [f"      {line}" for line in stat.traceback.format(most_recent_first=True)]
        Path(path).write_text("\n".join(lines) + "\n")


def start(path: str) -> None:
    tracemalloc.start(FRAMES)
    peak = _Peak()
    threading.Thread(target=peak.watch, daemon=True).start()
    atexit.register(peak.report, path)


def start_rss(path: str, *, package: str = "superbatch") -> None:
    """Untraced: the process's RSS over time, each line with the innermost ``package`` frame
    of the main thread then (which phase the memory grew in), written as it exits."""
    import os
    import sys

    main_id = threading.main_thread().ident
    lines: list[str] = []
    began = time.monotonic()
    page = os.sysconf("SC_PAGE_SIZE")

    def where() -> str:
        frame = sys._current_frames().get(main_id or 0)
        while frame is not None and f"/{package}/" not in frame.f_code.co_filename:
            frame = frame.f_back
        if frame is None:
            return "-"
        name = frame.f_code.co_filename.rsplit(f"/{package}/", 1)[-1]
        return f"{name}:{frame.f_lineno} {frame.f_code.co_name}"

    def watch() -> None:
        last = 0
        while True:
            time.sleep(POLL_SECONDS)
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * page
            if abs(rss - last) >= 1 << 20:
                lines.append(f"{time.monotonic() - began:7.1f} s {rss / 2**20:7.1f} MB  {where()}")
                last = rss

    threading.Thread(target=watch, daemon=True).start()
    atexit.register(lambda: Path(path).write_text("\n".join(lines) + "\n"))
