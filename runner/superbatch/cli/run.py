"""``superbatch run SPEC``: validate, run everywhere the same way, show progress, get results."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from superbatch.backends import BackendOptions
from superbatch.cli.options import Json, ResultsDir, backend_options

if TYPE_CHECKING:
    from superbatch.backend import Backend

FAILED_TASKS_EXIT_CODE = 1
RUN_EXAMPLES = """Examples:

\b
  superbatch run job.toml --local                 # on this machine, in the job's image
  superbatch run job.toml --local --no-container  # on this machine, on the host
  superbatch run job.toml --stack dev --json      # on Azure Batch; JSON summary on stdout
  superbatch run job.toml --local --new           # a fresh job, even if this one ran
  superbatch run job.toml --stack dev --detach    # submit, print the job id, return (a
                                                  # background watcher applies the policy)
  superbatch run job.toml --stack dev --dry-run --estimate 20m
                          # plan and cost (price: the stack's pricePerNodeHour); creates nothing
  superbatch run job.toml --stack dev --dry-run --estimate 20m --price-per-node-hour 0.10
"""


def check_output_folders(backend: "Backend", results_dir: Path) -> None:
    """Fail now, in one line, if results (or local state) could not be written later."""
    from superbatch.cli.folders import check_writable_folder
    from superbatch.local import LocalBackend

    if isinstance(backend, LocalBackend):
        check_writable_folder(backend.home, what=f"state folder {backend.home}")
    check_writable_folder(results_dir, what=f"results folder {results_dir}")


def check_plan_options(
    *, dry_run: bool, estimate: str | None, price: float | None, local: bool
) -> float | None:
    """--estimate and --price-per-node-hour belong to --dry-run (price: Azure only)."""
    from superbatch.errors import SpecError
    from superbatch.validate import parse_duration

    if not dry_run and (estimate is not None or price is not None):
        raise SpecError("--estimate and --price-per-node-hour only apply with --dry-run")
    if price is not None and (price < 0 or price != price or price == float("inf")):
        raise SpecError(f"--price-per-node-hour {price}: give a price of zero or more")
    if price is not None and local:
        raise SpecError("--price-per-node-hour applies to Azure: --local runs cost no nodes")
    if estimate is None:
        return None
    try:
        return parse_duration(estimate, where="--estimate").total_seconds()
    except SpecError:
        raise SpecError(
            f"--estimate {estimate!r}: give one task's run time such as 45s, 20m or 1h30m"
        ) from None


@backend_options(running=True)
def run_command(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The job spec (TOML).")],
    backend: BackendOptions,
    new: Annotated[bool, typer.Option("--new", help="Start a fresh job, do not resume.")] = False,
    results: ResultsDir = Path("results"),
    json: Json = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check everything and show the plan; create or upload nothing."
        ),
    ] = False,
    estimate: Annotated[
        str | None,
        typer.Option(
            "--estimate",
            metavar="DURATION",
            help="With --dry-run: your guess of one task's run time (20m, 1h30m).",
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Submit and return; the job runs on (locally: in a background runner; on "
            "Azure a background watcher applies retry_on_exit, max_failures, allow_failures "
            "and the pool's cold-start re-arm).",
        ),
    ] = False,
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-node-hour",
            metavar="PRICE",
            help="With --dry-run on Azure: what one node costs per hour, for the estimate "
            "(default: the stack's pricePerNodeHour for the job's pool).",
        ),
    ] = None,
) -> None:
    """Run a job spec to completion and bring every task's outputs and logs back."""
    from superbatch.cli import render
    from superbatch.cli.interrupt import keeps_running, remember_job
    from superbatch.cli.jobref import index_job
    from superbatch.run import JobKeepsRunning, run_job
    from superbatch.spec import needs_storage, parse_spec, resolve

    seconds = check_plan_options(
        dry_run=dry_run, estimate=estimate, price=price, local=backend.local
    )
    draft = parse_spec(spec)  # every spec error comes before anything is created
    remote = needs_storage(draft)
    if not remote:  # local files only: all checked before the backend is opened
        job = resolve(draft, new=new)
    opened = backend.open()
    if remote:  # az:// names are listed where (and as whom) the job will run
        job = resolve(draft, new=new, blobs=opened.blob_source())
    check_output_folders(opened, results / job.job_id)
    if dry_run:
        from superbatch.plan import pick_price, with_estimate

        # The flag wins; else the stack's price for the job's pool (locally: none).
        chosen, source = pick_price(price, opened.price_per_node_hour(job.pool), pool=job.pool)
        plan = with_estimate(opened.plan(job), seconds=seconds, price=chosen, source=source)
        if json:
            render.print_json(render.plan_json(plan))
        else:
            render.print_plan(plan)
        return
    index_job(opened, job.job_id, spec=spec, options=backend)
    remember_job(job.job_id, backend, results=results)
    if detach:
        with render.progress_bar(job.job_id) as progress:
            opened.submit(job, progress=progress)
        opened.detach(job.job_id)
        render.print_detached(job.job_id, backend, json=json)
        return
    try:
        with render.stuck_as_json(json), render.progress_bar(job.job_id) as progress:
            outcome = run_job(opened, job, results_root=results, progress=progress)
    except JobKeepsRunning:
        keeps_running()  # the exit message says so, and how to follow or stop it
        raise
    if json:
        render.print_json(render.outcome_json(outcome))
        render.print_unmatched(outcome)  # stderr: the JSON on stdout stays parseable
    else:
        render.print_outcome(outcome)
    if not outcome.ok:
        raise typer.Exit(FAILED_TASKS_EXIT_CODE)
