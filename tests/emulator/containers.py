"""Container rules of a node: what Batch checks before a task's container runs, and the
``podman run`` that stands in for Batch's ``docker create``/``start``.

- A pool with a ``containerConfiguration`` runs only container tasks: a task without
  ``containerSettings`` fails at once with ``ContainerTaskSettingsNotFound``, "Container-enabled
  compute node requires task container settings" (batch-compute.md; microsoft/ga4gh-tes#525,
  MicrosoftDocs/azure-docs#16473).
- An image that cannot be pulled fails the task with category ``UserError``, code
  ``ContainerInvalidImage``, "One or more container images specified are invalid", detail
  ``ContainerImage`` = the pull error (Azure/Batch#122, a pull refused by the registry). With
  podman the pull is real; on the host, images listed in ``pool.inject.unpullable`` fail.
- The command line is the container's arguments: with an ENTRYPOINT they go to it, an empty
  command line runs the image's default, ``--entrypoint`` in ``containerRunOptions`` replaces
  it (learn.microsoft.com batch-docker-container-workloads). ``podman run IMAGE ARGS`` does
  exactly that.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.emulator import casing

if TYPE_CHECKING:
    from tests.emulator.pools import Pool

SETTINGS_NOT_FOUND = {
    "category": casing.USER_ERROR,
    "code": "ContainerTaskSettingsNotFound",
    "message": "Container-enabled compute node requires task container settings",
}


def invalid_image(image: str, reason: str) -> dict[str, Any]:
    return {
        "category": casing.USER_ERROR,
        "code": "ContainerInvalidImage",
        "message": "One or more container images specified are invalid",
        "details": [{"name": "ContainerImage", "value": f"{image}: {reason}"}],
    }


def check_container(
    pool: Pool | None, settings: dict[str, Any] | None, podman_env: dict[str, str] | None
) -> dict[str, Any] | None:
    """The task's failure before anything runs, or None when its container may start."""
    if settings is None:
        return SETTINGS_NOT_FOUND if pool is not None and pool.spec.container else None
    image = str(settings["imageName"])
    if pool is not None and image in pool.inject.unpullable:
        return invalid_image(image, "pull access denied (injected by the test)")
    if podman_env is None:
        return None
    if (
        subprocess.run(
            ["podman", "image", "exists", image], env=podman_env, capture_output=True, check=False
        ).returncode
        == 0
    ):
        return None
    pulled = subprocess.run(
        ["podman", "pull", "--quiet", image], env=podman_env, capture_output=True, check=False
    )
    if pulled.returncode != 0:
        reason = pulled.stderr.decode(errors="replace").strip().splitlines()
        return invalid_image(image, reason[-1] if reason else f"exit {pulled.returncode}")
    return None


def podman_argv(
    name: str,
    root: Path,
    settings: dict[str, Any],
    env: dict[str, str],
    working_dir: Path,
    command: list[str],
) -> list[str]:
    """``podman run`` for a task: node root mounted at the same path, the task's environment,
    the working directory unless ``containerImageDefault``, the task's run options."""
    argv = ["podman", "run", "--rm", "--name", name, "-v", f"{root}:{root}"]
    if settings.get("workingDirectory", "taskWorkingDirectory") != "containerImageDefault":
        argv += ["-w", str(working_dir)]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    options = shlex.split(settings.get("containerRunOptions") or "")
    return [*argv, *options, str(settings["imageName"]), *command]
