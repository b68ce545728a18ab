"""``superbatch check``: is this stack ready for jobs? One green or red line per check."""

import os
from typing import Annotated

import typer

from superbatch.cli.options import Json, Outputs, Stack

CHECK_FAILED_EXIT_CODE = 3  # configuration: something here would stop a job
CHECK_EXAMPLES = """Examples:

\b
  superbatch check --stack dev                  # identity, roles, pools, containers, registry
  superbatch check --stack dev --canary docker.io/library/busybox:1.36   # + a one-task job
  superbatch check --outputs outputs.json --json
"""


def check_command(
    stack: Stack = None,
    outputs: Outputs = None,
    canary: Annotated[
        str | None,
        typer.Option(
            "--canary",
            metavar="IMAGE",
            help="Also run a one-task job in IMAGE end to end and time each phase.",
        ),
    ] = None,
    json: Json = False,
) -> None:
    """Check a stack once after `pulumi up`: identity, roles, pools, quotas, registry."""
    from superbatch.azure.backend import AzureBatchBackend
    from superbatch.azure.check import run_checks
    from superbatch.azure.outputs import OUTPUTS_ENV_VAR
    from superbatch.backends import BackendOptions
    from superbatch.cli import render
    from superbatch.errors import ConfigError

    if stack is None and outputs is None and not os.environ.get(OUTPUTS_ENV_VAR):
        raise ConfigError("check needs an Azure stack: --stack NAME or --outputs FILE")
    opened = BackendOptions(stack=stack, outputs=outputs).open()
    if not isinstance(opened, AzureBatchBackend):  # pragma: no cover - open() gives Azure
        raise ConfigError("check needs an Azure stack: --stack NAME or --outputs FILE")
    if canary is not None:
        from superbatch.azure.tasks import resolved_image

        resolved_image(canary, opened.outputs.registry_login_server)  # a bad name: one line
    checks = run_checks(opened, canary=canary)
    if json:
        render.print_json(
            {
                "ok": not any(c.failed for c in checks),
                "checks": [
                    {"check": c.name, "status": c.status, "detail": c.detail, "phases": c.phases}
                    for c in checks
                ],
            }
        )
    else:
        from rich.markup import escape

        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[c.status]
            render.stdout.print(
                f"[{colours[c.status]}]{mark}[/] {escape(c.name)}: {escape(c.detail)}"
            )
    if any(c.failed for c in checks):
        raise typer.Exit(CHECK_FAILED_EXIT_CODE)
