"""Reconnecting to jobs: ``status``, ``wait``, ``logs``, ``results``, ``jobs``, ``clean``."""

import sys
from collections.abc import Callable
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from superbatch.backends import BackendOptions

if TYPE_CHECKING:
    from superbatch.backend import Backend
    from superbatch.follow import LogRead
from superbatch.cli.jobref import resolve_job_id
from superbatch.cli.options import JobId, Json, ResultsDir, backend_options
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
  superbatch wait last --stack dev                   # Ctrl-C stops following, not the job;
                                                     # starts the job's watcher if it is gone
"""


class Stream(StrEnum):
    both = "both"
    stdout = "stdout"
    stderr = "stderr"


@backend_options()
def status_command(
    job_id: JobId,
    backend: BackendOptions,
    json: Json = False,
) -> None:
    """Show a job's task counts and its failed tasks."""
    from superbatch.cli import render

    opened = backend.open()
    status = opened.status(resolve_job_id(opened, job_id))
    if json:
        render.print_json(render.status_json(status))
    else:
        render.print_status(status)


@backend_options(running=True)
def wait_command(
    job_id: JobId,
    backend: BackendOptions,
    json: Json = False,
) -> None:
    """Follow a job until it ends; Ctrl-C stops following, never the job (locally an
    interrupted job gets a background runner again; on Azure a job whose watcher is gone
    gets one again)."""
    from superbatch.cli import render
    from superbatch.cli.interrupt import remember_job
    from superbatch.local import LocalBackend

    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    remember_job(job_id, backend, following=True)
    status = opened.status(job_id)
    # a finished job has nothing to run: no image check, no warning (an Azure job still
    # active is ended by its monitor: the watcher, or this process)
    if not status.done or status.state == "active":
        opened.detach(job_id)
        with render.stuck_as_json(json), render.progress_bar(job_id) as progress:
            if isinstance(opened, LocalBackend):
                status = opened.wait(job_id, progress=progress, run_here=False)
            else:
                status = opened.wait(job_id, progress=progress)
    if json:
        render.print_json(render.status_json(status))
    else:
        render.print_status(status)
    if not status.ok:
        raise typer.Exit(FAILED_TASKS_EXIT_CODE)


JOBS_EXAMPLES = """Examples:

\b
  superbatch jobs --local            # every local job, whatever folder it was run from
  superbatch jobs --stack dev --json
"""
CLEAN_EXAMPLES = """Examples:

\b
  superbatch clean wordcount-40242b330a --local    # asks first; results/ stay
  superbatch clean last --stack dev --yes          # deletes the job and its blobs
"""
LOGS_EXAMPLES = """Examples:

\b
  superbatch logs wordcount-40242b330a 0 --local             # stdout and stderr of task 0
  superbatch logs last 3 --stack dev -f                       # follow it until it ends
  superbatch logs last _aggregate --stack dev --stream stderr --tail 20
"""


@backend_options()
def logs_command(
    job_id: JobId,
    task_id: Annotated[str, typer.Argument(metavar="TASK", help="Task id, or _aggregate.")],
    backend: BackendOptions,
    stream: Annotated[Stream, typer.Option("--stream", help="Which log to show.")] = Stream.both,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing what the task writes until it ends."),
    ] = False,
    tail: Annotated[
        int | None,
        typer.Option("--tail", metavar="N", min=0, help="Start with the last N lines."),
    ] = None,
) -> None:
    """Print a task's stdout and stderr (-f: as they grow, until the task ends)."""
    import functools

    from superbatch.cli import render
    from superbatch.follow import follow_logs

    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    names = ("stdout", "stderr") if stream is Stream.both else (str(stream),)

    def say(line: str) -> None:
        render.stderr.print(line, soft_wrap=True, markup=False)

    if not follow and tail is None:  # the whole log, headed per stream, as always
        for name in names:
            text = opened.logs(job_id, task_id, stream=name)
            if stream is Stream.both:
                sys.stdout.write(f"==> {name} <==\n")
            sys.stdout.write(text)
            if stream is Stream.both and text and not text.endswith("\n"):
                sys.stdout.write("\n")
        return
    outs = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}

    def writer(name: str) -> Callable[[bytes], None]:
        target = outs[name] if stream is Stream.both else sys.stdout.buffer

        def write(data: bytes) -> None:
            target.write(data)
            target.flush()

        return write

    sources = [
        (functools.partial(_read, opened, job_id, task_id, name), writer(name)) for name in names
    ]
    follow_logs(sources, say=say, follow=follow, tail=tail)


def _read(opened: "Backend", job_id: str, task_id: str, name: str, offset: int) -> "LogRead":
    return opened.read_log(job_id, task_id, stream=name, offset=offset)


RESULTS_EXAMPLES = """Examples:

\b
  superbatch results JOB --stack dev                        # every output and log
  superbatch results JOB --stack dev --only 'out/*.json'    # just those outputs
  superbatch results JOB --stack dev --only '_logs/*'       # just the logs
  superbatch results JOB --stack dev --no-download --json   # blob URLs, nothing fetched
"""


@backend_options()
def results_command(
    job_id: JobId,
    backend: BackendOptions,
    results: ResultsDir = Path("results"),
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="PATTERN",
            help="Only files matching PATTERN (relative to each task's folder; repeatable). "
            "Logs only when a pattern names them: '_logs/*'.",
        ),
    ] = None,
    no_download: Annotated[
        bool,
        typer.Option(
            "--no-download",
            help="Write manifest.json with each file's URL; download nothing.",
        ),
    ] = False,
    json: Json = False,
) -> None:
    """Bring a job's outputs and logs to results/<job>/ and write manifest.json."""
    from superbatch.cli import render
    from superbatch.validate import check_output_pattern

    patterns = None
    if only:  # output patterns' rules; `_logs/...` is allowed here: it asks for the logs
        patterns = tuple(
            p
            if p.startswith("_logs/") and check_output_pattern(p[6:], where="--only")
            else check_output_pattern(p, where="--only")
            for p in only
        )
    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    check_output_folders(opened, results / job_id)
    task_results = opened.results(job_id, results, only=patterns, download=not no_download)
    from superbatch.timings import write_timings

    write_timings(opened, job_id, results)  # beside the (timing-free) manifest
    from superbatch.model import AGGREGATE_TASK_ID
    from superbatch.results import MANIFEST_NAME, task_result_json

    manifest = results / job_id / MANIFEST_NAME
    if json:
        render.print_json(
            {
                "job_id": job_id,
                "results_dir": str((results / job_id).absolute()),
                "manifest": str(manifest.absolute()),
                "tasks": [task_result_json(r) for r in task_results],
            }
        )
    else:
        files = sum(len(r.files) for r in task_results)
        tasks = [r for r in task_results if r.task_id != AGGREGATE_TASK_ID]
        what = render.plural(len(tasks), "task")
        if len(tasks) < len(task_results):
            what += " and the aggregate step"
        where = f"listed in {manifest}" if no_download else f"in {results / job_id}/"
        render.stdout.print(f"{what}: {render.plural(files, 'file')} {where}")


@backend_options()
def jobs_command(
    backend: BackendOptions,
    json: Json = False,
) -> None:
    """List jobs."""
    from superbatch.cli import render

    jobs = backend.open().list()
    if json:
        render.print_json([asdict(j) for j in jobs])
    else:
        render.print_jobs(jobs)


@backend_options()
def clean_command(
    job_id: JobId,
    backend: BackendOptions,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a job and everything the backend stored for it (never results/)."""
    from superbatch.cli import render

    opened = backend.open()
    job_id = resolve_job_id(opened, job_id)
    if not yes:
        opened.status(job_id)  # an unknown job is reported before asking anything
        if not _confirmed(f"Delete job {job_id} and everything stored for it?"):
            render.stderr.print(
                f"not cleaned: job {job_id} is unchanged (answer y, or pass --yes)", soft_wrap=True
            )
            raise typer.Exit(DECLINED_EXIT_CODE)
    opened.clean(job_id)
    render.stdout.print(f"removed job {job_id} (results/ left untouched)")


def _confirmed(question: str) -> bool:
    """Ask on stderr (stdout stays for results): only y or yes is a yes; no answer is a no."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")  # nobody typed Enter: end the prompt's line ourselves
    return answer.strip().lower() in ("y", "yes")
