"""The emulator's clock: host time plus an offset that tests move forward.

Pools, nodes, autoscale samples and evaluations, and the HTTP ``Date`` header follow it; job and
task timestamps stay on host time. ``emulator.clock.advance(600)`` moves time forward in steps
of at most one second and lets the pools act at each step (samples every 30 s, evaluations,
nodes finishing their start), so ten emulated minutes take milliseconds, not minutes.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable

STEP_SECONDS = 1.0


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._on_step: Callable[[], None] | None = None

    @property
    def offset(self) -> float:
        """Seconds the emulated time is ahead of the host's."""
        return self._offset

    def now(self) -> float:
        """Emulated time, seconds since the epoch."""
        return time.time() + self._offset

    def stamp(self, epoch: float | None = None) -> str:
        moment = self.now() if epoch is None else epoch
        iso = datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat()
        return iso.replace("+00:00", "Z")

    def on_step(self, callback: Callable[[], None]) -> None:
        """Called after each step of :meth:`advance` (the emulator runs its pools there)."""
        self._on_step = callback

    def advance(self, seconds: float) -> None:
        """Move emulated time ``seconds`` forward, letting the pools act at every step."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            remaining = float(seconds)
            while True:
                step = min(remaining, STEP_SECONDS)
                self._offset += step
                remaining -= step
                if self._on_step is not None:
                    self._on_step()
                if remaining <= 0:
                    break
