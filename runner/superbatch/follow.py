"""``logs JOB TASK -f``: a task's stdout and stderr as they grow, until the task ends.

Backends answer :meth:`Backend.read_log` (what was added since an offset, and whether the
task has started and ended); :func:`follow_log` polls it. The state is read before the
bytes, so once a read says "ended" the bytes it returned are the log's last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FOLLOW_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class LogRead:
    data: bytes  # the log from the offset asked for (from 0 when ``restarted``)
    started: bool  # an attempt of the task has started
    ended: bool  # the task will not write any more (finished, or its job ended)
    restarted: bool = False  # the log is shorter than the offset: a new attempt began
    note: str = ""  # why it has not started, or ended without running


LogReader = Callable[[int], LogRead]


def tail_lines(data: bytes, lines: int) -> bytes:
    """The last ``lines`` lines of ``data`` (a final line without newline counts)."""
    if lines <= 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
        return b"\n".join(parts[-lines:]) + b"\n"
    return b"\n".join(parts[-lines:])


def follow_logs(
    sources: Sequence[tuple[LogReader, Callable[[bytes], None]]],
    *,
    say: Callable[[str], None],
    follow: bool,
    tail: int | None = None,
    interval: float = FOLLOW_SECONDS,
) -> None:
    """Write each log (its last ``tail`` lines first) to its writer, then, with ``follow``,
    what is added until the task ends. ``say`` gets one line while it has not started."""
    offsets = [0] * len(sources)
    first = True
    said_waiting = False
    while True:
        ended = True
        for index, (read, write) in enumerate(sources):
            got = read(offsets[index])
            if got.restarted:
                offsets[index] = 0
                if not first:
                    say("a new attempt started: its log follows")
            if not got.started:
                if not said_waiting:
                    say(got.note or "the task has not started yet")
                    said_waiting = True
                ended = ended and got.ended
                continue
            data = tail_lines(got.data, tail) if first and tail is not None else got.data
            if data:
                write(data)
            offsets[index] += len(got.data)
            ended = ended and got.ended
        first = False
        if ended or not follow:
            return
        time.sleep(interval)
