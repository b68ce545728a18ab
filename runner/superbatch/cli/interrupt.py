"""What an interrupted command tells its user: the exact command that finishes the job.

Running ``run --new`` again would start yet another job, so the hint never says "run the
same command again": it names the job id and the backend options, for ``wait`` and then
``results``. Commands call :func:`remember_job` once the job id is known; ``main`` reads
:func:`interrupted_message` when the command exits with 130.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DEFAULT_RESULTS = Path("results")

_wait_command: str | None = None
_results_command: str | None = None


def remember_job(
    job_id: str,
    *,
    local: bool,
    stack: str | None,
    outputs: Path | None,
    parallel: int | None = None,
    engine: str | None = None,
    no_container: bool = False,
    results: Path | None = None,
) -> None:
    """Remember how to finish ``job_id``; ``results`` is given when the command fetches them."""
    global _wait_command, _results_command
    where: list[str] = []
    if local:
        where.append("--local")
    if stack is not None:
        where += ["--stack", stack]
    if outputs is not None:
        where += ["--outputs", str(outputs)]
    local_options: list[str] = []
    if parallel is not None:
        local_options += ["--parallel", str(parallel)]
    if engine is not None:
        local_options += ["--engine", engine]
    if no_container:
        local_options.append("--no-container")
    _wait_command = shlex.join(["superbatch", "wait", job_id, *where, *local_options])
    _results_command = None
    if results is not None:
        extra = [] if results == DEFAULT_RESULTS else ["--results", str(results)]
        _results_command = shlex.join(["superbatch", "results", job_id, *where, *extra])


def interrupted_message() -> str:
    if _wait_command is None:
        return "interrupted"
    message = f"interrupted: finish the job with `{_wait_command}`"
    if _results_command is not None:
        message += f", then get its results with `{_results_command}`"
    return message
