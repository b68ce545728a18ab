"""Stopping a job: ``cancel`` (keeps everything done; ``clean`` is what deletes)."""

from superbatch.backends import BackendOptions
from superbatch.cli.options import JobId, Json, backend_options

CANCEL_EXAMPLES = """Examples:

\b
  superbatch cancel wordcount-40242b330a --local   # stop its runner, tasks and containers
  superbatch cancel last --stack dev               # terminate the latest job from here
"""


@backend_options()
def cancel_command(job_id: JobId, backend: BackendOptions, json: Json = False) -> None:
    """Stop a job: running tasks are killed, queued ones never run. Finished tasks, their
    outputs and logs are kept (`results` still works); `clean` is what deletes."""
    from superbatch.cli import render
    from superbatch.cli.jobref import resolve_job_id

    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    status = opened.cancel(job_id)
    if json:
        render.print_json(render.status_json(status))
        return
    counts = status.counts
    render.stdout.print(
        f"cancelled {job_id}: {counts.succeeded + counts.failed} tasks finished and kept, "
        f"{counts.queued + counts.running} not run; "
        f"`{backend.command('results', job_id)}` brings back what finished"
    )
