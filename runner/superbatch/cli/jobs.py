"""Reconnecting to jobs: ``status``, ``wait``, ``logs``, ``results``, ``jobs``, ``clean``."""

import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from superbatch.cli.jobref import resolve_job_id
from superbatch.cli.options import (
    EngineName,
    JobId,
    Json,
    Local,
    NoContainer,
    Outputs,
    Parallel,
    ResultsDir,
    Stack,
    backend_from,
)
from superbatch.cli.run import FAILED_TASKS_EXIT_CODE, check_output_folders

DECLINED_EXIT_CODE = 6  # a confirmation was answered no (or not at all): nothing changed


STATUS_EXAMPLES = """Examples:

\b
  superbatch status wordcount-40242b330a --local
  superbatch status wordcount-40242b330a --stack dev --json
"""
WAIT_EXAMPLES = """Examples:

\b
  superbatch wait wordcount-40242b330a --local       # follow it, or finish an interrupted run
  superbatch wait wordcount-40242b330a --stack dev
"""


class Stream(StrEnum):
    both = "both"
    stdout = "stdout"
    stderr = "stderr"


def status_command(
    job_id: JobId,
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    json: Json = False,
) -> None:
    """Show a job's task counts and its failed tasks."""
    from superbatch.cli import render

    backend = backend_from(local=local, stack=stack, outputs=outputs)
    status = backend.status(resolve_job_id(backend, job_id))
    if json:
        render.print_json(render.status_json(status))
    else:
        render.print_status(status)


def wait_command(
    job_id: JobId,
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    parallel: Parallel = None,
    engine: EngineName = None,
    no_container: NoContainer = False,
    json: Json = False,
) -> None:
    """Wait for a job to finish (locally: follow its run, or finish an interrupted one)."""
    from superbatch.cli import render
    from superbatch.cli.interrupt import remember_job

    backend = backend_from(
        local=local,
        stack=stack,
        outputs=outputs,
        parallel=parallel,
        engine=engine,
        no_container=no_container,
    )
    job_id = resolve_job_id(backend, job_id)
    remember_job(
        job_id,
        local=local,
        stack=stack,
        outputs=outputs,
        parallel=parallel,
        engine=engine,
        no_container=no_container,
    )
    status = backend.status(job_id)
    if not status.done:  # a finished job has nothing to run: no image check, no warning
        with render.progress_bar(job_id) as progress:
            status = backend.wait(job_id, progress=progress)
    if json:
        render.print_json(render.status_json(status))
    else:
        render.print_status(status)
    if not status.ok:
        raise typer.Exit(FAILED_TASKS_EXIT_CODE)


def logs_command(
    job_id: JobId,
    task_id: Annotated[str, typer.Argument(metavar="TASK", help="Task id, or _aggregate.")],
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    stream: Annotated[Stream, typer.Option("--stream", help="Which log to show.")] = Stream.both,
) -> None:
    """Print a task's stdout and stderr."""
    backend = backend_from(local=local, stack=stack, outputs=outputs)
    job_id = resolve_job_id(backend, job_id)
    if stream is Stream.both:
        for name in ("stdout", "stderr"):
            text = backend.logs(job_id, task_id, stream=name)
            sys.stdout.write(f"==> {name} <==\n{text}")
            if text and not text.endswith("\n"):
                sys.stdout.write("\n")
    else:
        sys.stdout.write(backend.logs(job_id, task_id, stream=str(stream)))


def results_command(
    job_id: JobId,
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    results: ResultsDir = Path("results"),
    json: Json = False,
) -> None:
    """Bring a job's outputs and logs to results/<job>/ and write manifest.json."""
    from superbatch.cli import render

    backend = backend_from(local=local, stack=stack, outputs=outputs)
    job_id = resolve_job_id(backend, job_id)
    check_output_folders(backend, results / job_id)
    task_results = backend.results(job_id, results)
    from superbatch.results import MANIFEST_NAME

    manifest = results / job_id / MANIFEST_NAME
    if json:
        render.print_json(
            {
                "job_id": job_id,
                "results_dir": str((results / job_id).absolute()),
                "manifest": str(manifest.absolute()),
                "tasks": [render.task_result_json(r) for r in task_results],
            }
        )
    else:
        files = sum(len(r.files) for r in task_results)
        render.stdout.print(f"{len(task_results)} tasks, {files} files in {results / job_id}/")


def jobs_command(
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    json: Json = False,
) -> None:
    """List jobs."""
    from superbatch.cli import render

    jobs = backend_from(local=local, stack=stack, outputs=outputs).list()
    if json:
        render.print_json([asdict(j) for j in jobs])
    else:
        render.print_jobs(jobs)


def clean_command(
    job_id: JobId,
    local: Local = False,
    stack: Stack = None,
    outputs: Outputs = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a job and everything the backend stored for it (never results/)."""
    from superbatch.cli import render

    backend = backend_from(local=local, stack=stack, outputs=outputs)
    job_id = resolve_job_id(backend, job_id)
    if not yes:
        backend.status(job_id)  # an unknown job is reported before asking anything
        if not _confirmed(f"Delete job {job_id} and everything stored for it?"):
            render.stderr.print(
                f"not cleaned: job {job_id} is unchanged (answer y, or pass --yes)", soft_wrap=True
            )
            raise typer.Exit(DECLINED_EXIT_CODE)
    backend.clean(job_id)
    render.stdout.print(f"removed job {job_id} (results/ left untouched)")


def _confirmed(question: str) -> bool:
    """Ask on stderr (stdout stays for results): only y or yes is a yes; no answer is a no."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")  # nobody typed Enter: end the prompt's line ourselves
    return answer.strip().lower() in ("y", "yes")
