"""What an interrupted command tells its user: the exact command that finishes the job.

Running ``run --new`` again would start yet another job, so the hint never says "run the
same command again": it names the job id and the backend options, for ``wait`` and then
``results``. Commands call :func:`remember_job` once the job id is known (and
:func:`keeps_running` when the job goes on without them); ``main`` reads
:func:`interrupted_message` when the command exits with 130.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends import BackendOptions

DEFAULT_RESULTS = Path("results")

_wait_command: str | None = None
_results_command: str | None = None
_cancel_command: str | None = None
_following = False


def remember_job(
    job_id: str, backend: BackendOptions, *, results: Path | None = None, following: bool = False
) -> None:
    """Remember how to finish ``job_id``; ``results`` is given when the command fetches them.

    ``following``: the command only watches a job that runs without it (``wait``), so an
    interrupt stops the watching, never the job.
    """
    global _wait_command, _results_command, _cancel_command, _following
    _following = following
    _wait_command = backend.command("wait", job_id, running=True)
    _cancel_command = backend.command("cancel", job_id)
    _results_command = None
    if results is not None:
        extra = [] if results == DEFAULT_RESULTS else ["--results", str(results)]
        _results_command = shlex.join(
            ["superbatch", "results", job_id, *backend.where_args(), *extra]
        )


def keeps_running() -> None:
    """The interrupted command's job goes on without it (an Azure ``run``: Batch runs the
    tasks, a watcher took over): the message says how to follow it, or stop it."""
    global _following
    _following = True


def interrupted_message() -> str:
    if _wait_command is None:
        return "interrupted"
    if _following:
        message = f"stopped following; the job keeps running: `{_wait_command}` follows it again"
        if _results_command is not None:
            message += f", `{_results_command}` gets its results"
        return f"{message}; `{_cancel_command}` stops it"
    message = f"interrupted: finish the job with `{_wait_command}`"
    if _results_command is not None:
        message += f", then get its results with `{_results_command}`"
    return message
