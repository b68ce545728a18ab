"""Options shared by several commands, and the backend they select."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # --help must not pay for importing the model
    from superbatch.backend import Backend

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


def backend_from(
    *,
    local: bool,
    stack: str | None,
    outputs: Path | None,
    parallel: int | None = None,
    engine: str | None = None,
    no_container: bool = False,
) -> Backend:
    from superbatch.backends import open_backend

    return open_backend(
        local=local,
        stack=stack,
        outputs=outputs,
        parallel=parallel,
        engine=engine,
        container=not no_container,
    )
