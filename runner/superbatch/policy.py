"""The failure policy of a job spec: which exits are retried, when a job stops, and whether
the aggregate step runs over the tasks that succeeded.

::

    retries = 3
    retry_on_exit = [75, 137]     # only these exit codes are retried (or:)
    # no_retry_on_exit = [2]      # every non-zero exit but these is retried
    max_failures = 10             # stop the job once more than 10 tasks failed for good

    [aggregate]
    allow_failures = true         # or N: run over the tasks that succeeded
"""

from __future__ import annotations

from dataclasses import dataclass

from superbatch.errors import SpecError

ANY = -1  # allow_failures = true
POLICY_KEYS = ("retry_on_exit", "no_retry_on_exit", "max_failures")


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    retry_on_exit: tuple[int, ...] | None = None  # None: every non-zero exit is retried
    no_retry_on_exit: tuple[int, ...] = ()
    max_failures: int | None = None  # None: never stop early

    def retryable(self, exit_code: int | None) -> bool:
        """Whether an attempt that ended so gets another (``None``: killed, timed out)."""
        if exit_code is None or exit_code == 0:
            return exit_code is None and self.retry_on_exit is None
        if self.retry_on_exit is not None:
            return exit_code in self.retry_on_exit
        return exit_code not in self.no_retry_on_exit

    def too_many(self, failed: int) -> bool:
        return self.max_failures is not None and failed > self.max_failures

    @property
    def is_default(self) -> bool:
        return self == FailurePolicy()

    def identity(self) -> dict[str, object]:
        """What the job id hashes (nothing for the default, so older ids stay the same)."""
        if self.is_default:
            return {}
        return {
            "retry_on_exit": list(self.retry_on_exit) if self.retry_on_exit is not None else None,
            "no_retry_on_exit": list(self.no_retry_on_exit),
            "max_failures": self.max_failures,
        }


def aggregate_may_run(failed: int, allow_failures: int) -> bool:
    """The aggregate step runs when no task failed, or the failures are allowed."""
    return failed == 0 or allow_failures == ANY or failed <= allow_failures


def stop_reason(max_failures: int) -> str:
    return f"more than {max_failures} tasks failed (max_failures = {max_failures})"


def _codes(value: object, *, key: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: {key} must be a list of exit codes such as [1, 137]")
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 255:
            raise SpecError(f"{where}: {key}: {code!r} is not an exit code from 1 to 255")
    return tuple(sorted(set(value)))


def parse_policy(data: dict[str, object], *, retries: int, where: str) -> FailurePolicy:
    """The policy keys of a spec table (already known to be allowed keys)."""
    if "retry_on_exit" in data and "no_retry_on_exit" in data:
        raise SpecError(f"{where}: give retry_on_exit or no_retry_on_exit, not both")
    retry_on = None
    no_retry: tuple[int, ...] = ()
    if "retry_on_exit" in data:
        retry_on = _codes(data["retry_on_exit"], key="retry_on_exit", where=where)
    if "no_retry_on_exit" in data:
        no_retry = _codes(data["no_retry_on_exit"], key="no_retry_on_exit", where=where)
    if (retry_on is not None or no_retry) and retries == 0:
        raise SpecError(f"{where}: retry_on_exit / no_retry_on_exit need retries = 1 or more")
    max_failures = None
    if "max_failures" in data:
        value = data["max_failures"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SpecError(f"{where}: max_failures must be a whole number, 0 or more")
        max_failures = value
    return FailurePolicy(retry_on, no_retry, max_failures)


def parse_allow_failures(value: object, *, where: str) -> int:
    if value is True:
        return ANY
    if value is False:
        return 0
    if isinstance(value, int) and value >= 0:
        return value
    raise SpecError(f"{where}: allow_failures must be true, false or a number of tasks (0 or more)")
