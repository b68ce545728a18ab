"""Options shared by several commands, and the one option set that selects a backend.

A command takes ``backend: BackendOptions`` and is decorated with :func:`backend_options`:
the decorator puts ``--local``, ``--stack``, ``--outputs`` (and, with ``running=True``,
``--parallel``, ``--engine``, ``--no-container``) into the signature typer reads, and calls
the command with one :class:`BackendOptions` built from them. A new command gets every
backend option, spelled and documented the same way, by one line.
"""

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from superbatch.backends import BackendOptions

Local = Annotated[bool, typer.Option("--local", help="Use this machine (the local backend).")]
Stack = Annotated[
    str | None, typer.Option("--stack", metavar="NAME", help="Use the Azure Batch stack NAME.")
]
Outputs = Annotated[
    Path | None,
    typer.Option("--outputs", metavar="FILE", help="Azure stack outputs from a JSON file."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ResultsDir = Annotated[
    Path,
    typer.Option("--results", metavar="DIR", help="Where results/<job>/ goes."),
]
Parallel = Annotated[
    int | None,
    typer.Option("--parallel", metavar="N", help="Local: tasks at a time (default: cores)."),
]
EngineName = Annotated[
    str | None,
    typer.Option("--engine", metavar="ENGINE", help="Local: docker or podman (default: auto)."),
]
NoContainer = Annotated[
    bool, typer.Option("--no-container", help="Local: run on the host, not in the image.")
]
JobId = Annotated[
    str,
    typer.Argument(
        metavar="JOB",
        help="Job id (as printed by run), a unique start of it, or `last` (the latest job "
        "run from this folder).",
    ),
]

BACKEND_PARAMETER = "backend"
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
_WHERE = (
    inspect.Parameter("local", _KEYWORD, annotation=Local, default=False),
    inspect.Parameter("stack", _KEYWORD, annotation=Stack, default=None),
    inspect.Parameter("outputs", _KEYWORD, annotation=Outputs, default=None),
)
_RUNNING = (
    inspect.Parameter("parallel", _KEYWORD, annotation=Parallel, default=None),
    inspect.Parameter("engine", _KEYWORD, annotation=EngineName, default=None),
    inspect.Parameter("no_container", _KEYWORD, annotation=NoContainer, default=False),
)

Command = TypeVar("Command", bound=Callable[..., Any])


def backend_options(*, running: bool = False) -> Callable[[Command], Command]:
    """Give a command the backend options; it receives them as ``backend: BackendOptions``.

    ``running``: the command runs tasks (``run``, ``wait``), so the local backend's
    ``--parallel``, ``--engine`` and ``--no-container`` apply too.
    """
    added = _WHERE + (_RUNNING if running else ())

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        if BACKEND_PARAMETER not in signature.parameters:
            raise TypeError(f"{command.__name__} needs a `{BACKEND_PARAMETER}` parameter")
        kept = [p for name, p in signature.parameters.items() if name != BACKEND_PARAMETER]
        # typer reads the parameters in order: the backend options come right after the
        # arguments, where every command has always shown them.
        arguments = [p for p in kept if p.default is inspect.Parameter.empty]
        others = [p for p in kept if p.default is not inspect.Parameter.empty]
        parameters = [
            p.replace(kind=_KEYWORD) if p.kind is not _KEYWORD else p
            for p in (*arguments, *added, *others)
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            options = BackendOptions(
                local=kwargs.pop("local"),
                stack=kwargs.pop("stack"),
                outputs=kwargs.pop("outputs"),
                parallel=kwargs.pop("parallel", None),
                engine=kwargs.pop("engine", None),
                container=not kwargs.pop("no_container", False),
            )
            return command(**kwargs, **{BACKEND_PARAMETER: options})

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        annotations = {
            name: hint
            for name, hint in getattr(command, "__annotations__", {}).items()
            if name != BACKEND_PARAMETER
        }
        annotations.update({p.name: p.annotation for p in added})
        wrapper.__annotations__ = annotations
        return wrapper  # type: ignore[return-value]

    return decorate
