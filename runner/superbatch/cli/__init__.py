"""The ``superbatch`` command: a thin layer over the library, and the one error boundary.

Commands live in their own modules and are registered here, in one place. Library errors
(:class:`SuperBatchError`) become one red line on stderr and the error's exit code; an
``OSError`` that still escapes (a path the system refused) becomes one line and exit 3.
``--debug`` shows the traceback instead.
"""

import signal
import sys
from typing import Annotated

import typer

from superbatch.cli import check as _check
from superbatch.cli import control as _control
from superbatch.cli import inspect as _inspect
from superbatch.cli import jobs as _jobs
from superbatch.cli import run as _run
from superbatch.cli.image import image_app
from superbatch.errors import ConfigError, SuperBatchError

INTERRUPTED_EXIT_CODE = 130

app = typer.Typer(
    name="superbatch",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rendering it with rich would triple the time `superbatch --help` takes.
    rich_markup_mode=None,
    help="Run a job spec on this machine (--local) or on Azure Batch (--stack), "
    "with the same results layout.",
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"superbatch {version('superbatch')}\n")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Global options (``--debug`` is read by :func:`main`)."""
    _route_warnings(debug=debug)  # here, not in main(): `--help` never needs logging


# Command registration: the one place that lists every command and command group.
app.command("run", epilog=_run.RUN_EXAMPLES)(_run.run_command)
app.command("status", epilog=_jobs.STATUS_EXAMPLES)(_jobs.status_command)
app.command("wait", epilog=_jobs.WAIT_EXAMPLES)(_jobs.wait_command)
app.command("tasks", epilog=_inspect.TASKS_EXAMPLES)(_inspect.tasks_command)
app.command("report", epilog=_inspect.REPORT_EXAMPLES)(_inspect.report_command)
app.command("logs", epilog=_jobs.LOGS_EXAMPLES)(_jobs.logs_command)
app.command("results", epilog=_jobs.RESULTS_EXAMPLES)(_jobs.results_command)
app.command("jobs", epilog=_jobs.JOBS_EXAMPLES)(_jobs.jobs_command)
app.command("cancel", epilog=_control.CANCEL_EXAMPLES)(_control.cancel_command)
app.command("clean", epilog=_jobs.CLEAN_EXAMPLES)(_jobs.clean_command)
app.command("check", epilog=_check.CHECK_EXAMPLES)(_check.check_command)
app.add_typer(image_app, name="image")


def _route_warnings(*, debug: bool) -> None:
    """Library warnings become one yellow line on stderr (rich is imported only then).

    The Azure SDKs' own log lines (azure-identity lists every credential it tried, at
    WARNING) are dropped unless ``--debug``: the error we raise says it in one line.
    """
    import logging

    if not debug:
        logging.getLogger("azure").addHandler(logging.NullHandler())

    class WarningHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from superbatch.cli.render import warning_line

            warning_line(record.getMessage())

    logger = logging.getLogger("superbatch")
    logger.setLevel(logging.WARNING)
    logger.addHandler(WarningHandler())
    logger.propagate = False


def _terminate(signum: int, frame: object) -> None:
    """`kill PID` stops a run like Ctrl-C does: running tasks are killed, state is kept."""
    raise KeyboardInterrupt


def _describe_os_error(exc: OSError) -> str:
    """``[Errno 20] Not a directory: 'x/y'`` -> ``x/y: Not a directory``."""
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
    return f"{names}: {exc.strerror}"


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    signal.signal(signal.SIGTERM, _terminate)
    # typer vendors click; its usage errors are rendered here as one line, like ours.
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    try:
        result = app(standalone_mode=False, prog_name="superbatch")  # also for python -m
    except NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        sys.exit(0)
    except ClickException as exc:
        if debug:
            raise
        from superbatch.cli.render import error_line

        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error_line(f"{exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except SuperBatchError as exc:
        if debug:
            raise
        from superbatch.cli.render import error_line

        error_line(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:  # a folder or file the system refused: one line, not a traceback
        if debug:
            raise
        from superbatch.cli.render import error_line

        error_line(_describe_os_error(exc))
        sys.exit(ConfigError.exit_code)
    code = result if isinstance(result, int) else 0
    if code == INTERRUPTED_EXIT_CODE and not debug:
        from superbatch.cli.interrupt import interrupted_message
        from superbatch.cli.render import error_line

        error_line(interrupted_message())
    sys.exit(code)
