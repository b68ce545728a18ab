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
"""


def check_output_folders(backend: "Backend", results_dir: Path) -> None:
    """Fail now, in one line, if results (or local state) could not be written later."""
    from superbatch.cli.folders import check_writable_folder
    from superbatch.local import LocalBackend

    if isinstance(backend, LocalBackend):
        check_writable_folder(backend.home, what=f"state folder {backend.home}")
    check_writable_folder(results_dir, what=f"results folder {results_dir}")


@backend_options(running=True)
def run_command(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The job spec (TOML).")],
    backend: BackendOptions,
    new: Annotated[bool, typer.Option("--new", help="Start a fresh job, do not resume.")] = False,
    results: ResultsDir = Path("results"),
    json: Json = False,
) -> None:
    """Run a job spec to completion and bring every task's outputs and logs back."""
    from superbatch.cli import render
    from superbatch.cli.interrupt import remember_job
    from superbatch.run import run_job
    from superbatch.spec import needs_storage, parse_spec, resolve

    draft = parse_spec(spec)  # every spec error comes before anything is created
    remote = needs_storage(draft)
    if not remote:  # local files only: all checked before the backend is opened
        job = resolve(draft, new=new)
    opened = backend.open()
    if remote:  # az:// names are listed where (and as whom) the job will run
        job = resolve(draft, new=new, blobs=opened.blob_source())
    check_output_folders(opened, results / job.job_id)
    remember_job(job.job_id, backend, results=results)
    with render.progress_bar(job.job_id) as progress:
        outcome = run_job(opened, job, results_root=results, progress=progress)
    if json:
        render.print_json(render.outcome_json(outcome))
    else:
        render.print_outcome(outcome)
    if not outcome.ok:
        raise typer.Exit(FAILED_TASKS_EXIT_CODE)
