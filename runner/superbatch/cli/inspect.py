"""Looking into a job: ``tasks`` (one line per task)."""

from enum import StrEnum
from typing import Annotated

import typer

from superbatch.backends import BackendOptions
from superbatch.cli.options import JobId, Json, backend_options

TASKS_EXAMPLES = """Examples:

\b
  superbatch tasks wordcount-40242b330a --local
  superbatch tasks wordc --local --state failed    # a unique start of the id is enough
  superbatch tasks last --stack dev --json         # the latest job run from this folder
"""


class StateFilter(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


@backend_options()
def tasks_command(
    job_id: JobId,
    backend: BackendOptions,
    state: Annotated[
        StateFilter | None, typer.Option("--state", help="Only tasks in this state.")
    ] = None,
    json: Json = False,
) -> None:
    """List a job's tasks: state, label, attempts, exit, duration and node of each."""
    from superbatch.cli import render
    from superbatch.cli.jobref import resolve_job_id

    opened = backend.open()
    tasks = opened.tasks(resolve_job_id(opened, job_id))
    if state is not None:
        tasks = [t for t in tasks if str(t.state) == str(state)]
    if json:
        render.print_json([render.task_info_json(t) for t in tasks])
    else:
        render.print_tasks(tasks)
