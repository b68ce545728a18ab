"""Failed tasks grouped by their error: the last line of their stderr, else their reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from superbatch.model import TaskStatus

NO_STDERR = "(nothing on stderr)"


@dataclass
class FailureGroup:
    key: str  # the error: last non-empty stderr line, or the reason when stderr was empty
    tasks: list[TaskStatus] = field(default_factory=list)


def error_key(stderr_tail: str, failure: str | None) -> str:
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    if lines:
        return lines[-1]
    return failure or NO_STDERR


def group_failures(failed: Iterable[TaskStatus]) -> list[FailureGroup]:
    """Groups, biggest first (ties: first seen first); tasks keep their order."""
    groups: dict[str, FailureGroup] = {}
    for task in failed:
        key = error_key(task.stderr_tail, task.failure)
        groups.setdefault(key, FailureGroup(key)).tasks.append(task)
    return sorted(groups.values(), key=lambda g: -len(g.tasks))
