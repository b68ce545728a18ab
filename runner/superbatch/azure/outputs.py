"""Where the runner learns which stack it talks to: ``--stack``, ``--outputs`` or the environment.

Precedence: an explicit ``--outputs FILE``, then ``--stack NAME`` (``pulumi stack output``),
then the ``SUPERBATCH_OUTPUTS`` environment variable (a path to the same JSON file).

``--stack`` runs Pulumi in the project folder (the one with ``Pulumi.yaml``): the current
folder or one above it, the folder in ``SUPERBATCH_PULUMI_DIR`` (passed as ``--cwd``), or
none at all for a fully qualified name (``org/project/stack``).
Every failure is a :class:`~superbatch.errors.ConfigError` with one line a user can act on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from superbatch.contract import StackOutputs
from superbatch.errors import ConfigError

OUTPUTS_ENV_VAR = "SUPERBATCH_OUTPUTS"
PULUMI_DIR_ENV_VAR = "SUPERBATCH_PULUMI_DIR"
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
_WHERE = (
    f"run it in the folder with the stack's Pulumi.yaml, set {PULUMI_DIR_ENV_VAR}=DIR to that "
    "folder, or name the stack in full (org/project/stack)"
)
PULUMI_TIMEOUT_SECONDS = 120


def load_stack_outputs(
    *,
    stack: str | None = None,
    outputs_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pulumi_dir: Path | None = None,
) -> StackOutputs:
    """Read the stack outputs from the first source given (file, stack, environment)."""
    environ = os.environ if environ is None else environ
    if outputs_file is not None:
        return outputs_from_file(outputs_file)
    if stack is not None:
        return outputs_from_pulumi(stack, cwd=cwd, environ=environ, pulumi_dir=pulumi_dir)
    from_env = environ.get(OUTPUTS_ENV_VAR)
    if from_env:
        return outputs_from_file(Path(from_env), source=f"{OUTPUTS_ENV_VAR}={from_env}")
    raise ConfigError(
        "no stack given: pass --stack NAME (after `pulumi up`), --outputs FILE, "
        f"or set {OUTPUTS_ENV_VAR}=FILE"
    )


def outputs_from_file(path: Path, *, source: str | None = None) -> StackOutputs:
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"stack outputs file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read stack outputs file {path}: {exc.strerror}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    return _outputs_from_mapping(values, source=source)


def outputs_from_pulumi(
    stack: str,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    pulumi_dir: Path | None = None,
) -> StackOutputs:
    """``pulumi stack output --json`` for ``stack``; secrets stay hidden (none are needed).

    ``pulumi_dir`` (else ``SUPERBATCH_PULUMI_DIR``) is the project folder, given to Pulumi as
    ``--cwd``; without it Pulumi looks for ``Pulumi.yaml`` from ``cwd`` upwards.
    """
    environ = os.environ if environ is None else environ
    pulumi = shutil.which("pulumi", path=environ.get("PATH"))
    if pulumi is None:
        raise ConfigError(
            "the Pulumi CLI is not installed (needed for --stack): install it from "
            "https://www.pulumi.com/docs/install/ or pass --outputs FILE"
        )
    command = [pulumi, "stack", "output", "--json", "--show-secrets=false", "--stack", stack]
    project = _project_dir(pulumi_dir, environ, cwd)
    if project is not None:
        command += ["--cwd", str(project)]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"`pulumi stack output --stack {stack}` did not answer in {PULUMI_TIMEOUT_SECONDS}s"
        ) from None
    if done.returncode != 0:
        detail = _last_line(done.stderr) or f"exit code {done.returncode}"
        said = done.stderr.lower()
        if "no pulumi.yaml" in said or "no pulumi project" in said or "no project file" in said:
            raise ConfigError(f"Pulumi found no project for stack {stack!r}: {_WHERE}")
        if "no stack named" in said or "not found" in detail.lower():
            raise ConfigError(
                f"Pulumi stack {stack!r} not found ({detail}): `pulumi stack ls` in the folder "
                "with the stack's Pulumi.yaml lists them (the repository root for SuperBatch's "
                "own infra/), or `pulumi up` creates it"
            )
        raise ConfigError(f"`pulumi stack output --stack {stack}` failed: {detail}")
    try:
        values = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        raise ConfigError(f"`pulumi stack output --stack {stack}` did not print JSON") from None
    return _outputs_from_mapping(values, source=f"stack {stack!r}")


def _outputs_from_mapping(values: Any, *, source: str) -> StackOutputs:
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must hold a JSON object of stack outputs")
    try:
        return StackOutputs.from_mapping(values, source=source)
    except ValueError as exc:
        raise ConfigError(f"{exc} (run `pulumi up` for that stack)") from None


def _project_dir(
    pulumi_dir: Path | None, environ: Mapping[str, str], cwd: Path | None
) -> Path | None:
    """The project folder asked for (argument, then environment), checked before Pulumi runs."""
    given = pulumi_dir or (
        Path(environ[PULUMI_DIR_ENV_VAR]) if environ.get(PULUMI_DIR_ENV_VAR) else None
    )
    if given is None:
        return None
    folder = given if given.is_absolute() or cwd is None else cwd / given
    if not any((folder / name).is_file() for name in PROJECT_FILES):
        raise ConfigError(
            f"{given} holds no Pulumi.yaml: point {PULUMI_DIR_ENV_VAR} at the folder with the "
            "stack's Pulumi.yaml (for SuperBatch's own infra/, the repository root)"
        )
    return folder.resolve()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
