"""Looking into a job: ``tasks`` (one line per task) and ``report`` (one HTML page)."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from superbatch.backends import BackendOptions
from superbatch.cli.options import JobId, Json, ResultsDir, backend_options

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


REPORT_EXAMPLES = """Examples:

\b
  superbatch report wordcount-40242b330a --local     # results/<job>/report.html
  superbatch report last --stack dev --output week1.html   # cost at pricePerNodeHour
  superbatch report last --stack dev --price-per-node-hour 0.10   # this price instead
  superbatch report last --stack dev --json          # the same numbers, for scripts
"""


@backend_options()
def report_command(
    job_id: JobId,
    backend: BackendOptions,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", metavar="FILE", help="Where the page goes (default: in results/<job>/)."
        ),
    ] = None,
    results: ResultsDir = Path("results"),
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-node-hour",
            metavar="PRICE",
            help="What one node costs per hour (default: the stack's pricePerNodeHour for "
            "the job's pool; --local: no default).",
        ),
    ] = None,
    json: Json = False,
) -> None:
    """Write one self-contained HTML page on a job: timeline per node, durations,
    failures by error, node-hours and cost (--json: the same numbers)."""
    from superbatch.cli import render
    from superbatch.cli.jobref import resolve_job_id
    from superbatch.errors import SpecError
    from superbatch.plan import pick_price
    from superbatch.report import build_report, render_html
    from superbatch.results import atomic_write_bytes
    from superbatch.timings import write_timings

    if price is not None and not price >= 0:
        raise SpecError(f"--price-per-node-hour {price}: give a price of zero or more")
    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    tasks = opened.timings(job_id)
    status = opened.status(job_id)
    chosen, source = pick_price(price, opened.price_per_node_hour(status.pool), pool=status.pool)
    report = build_report(
        job_id,
        opened.name,
        tasks,
        status.failed,
        pool=status.pool,
        price_per_node_hour=chosen,
        price_source=source,
    )
    target = output or results / job_id / "report.html"
    atomic_write_bytes(target, render_html(report).encode())
    write_timings(opened, job_id, results)
    if json:
        render.print_json({**report, "html": str(target.absolute())})
    else:
        render.stdout.print(
            f"report: {target} ({report['tasks']} tasks, {report['attempts']} attempts, "
            f"{report['node_hours']:.4f} node-hours)"
        )
