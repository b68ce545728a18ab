"""Finding a working container engine (docker or podman) on this machine.

A ``docker`` client without a running daemon is common (and is the case on many CI
machines), so an engine only counts when ``<engine> info`` answers. The result is cached for
the life of the process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from superbatch.errors import ConfigError

ENGINES: tuple[str, ...] = ("docker", "podman")


@dataclass(frozen=True)
class Engine:
    name: str  # "docker" | "podman"
    path: str  # absolute path of the client binary

    def command(self, *args: str) -> list[str]:
        return [self.path, *args]

    def remove_command(self, *names: str) -> list[str]:
        """The command that removes containers ``names``, killing any still running at once.

        podman's ``rm -f`` first stops a container with a grace period unless ``-t 0``;
        docker's ``rm -f`` kills at once (SIGKILL) and has no ``-t``: given one, it removes
        nothing ("unknown shorthand flag").
        """
        if self.name == "podman":
            return self.command("rm", "-f", "-t", "0", *names)
        return self.command("rm", "-f", *names)

    def image_exists(self, ref: str) -> bool:
        """True when ``ref`` is present in the engine's local image store (no pull)."""
        args = ["image", "inspect", "--format", "{{.Id}}", ref]
        result = subprocess.run(self.command(*args), capture_output=True, check=False)
        return result.returncode == 0

    def local_name(self, ref: str) -> str:
        """The name ``<engine> tag IMAGE ref`` gives an image in the local store.

        podman keeps a short name as ``localhost/<name>`` (and looks a short name up under
        every registry it has images from, so ``x:1`` would also find ``host:5000/x:1``);
        docker keeps it as given.
        """
        from superbatch.images.reference import parse_image_ref

        if self.name == "podman" and parse_image_ref(ref).registry is None:
            return f"localhost/{ref}"
        return ref

    def user_args(self) -> list[str]:
        """``run`` arguments that make the container run as the invoking user's uid:gid.

        That is what Batch does for container tasks (the task user, who owns the task dir,
        is mapped into the container), and it lets a non-root image write the task's
        working dir. Rootless podman also needs ``--userns=keep-id`` so that uid inside is
        the same uid outside (rootful engines map ids one to one).
        """
        args = ["--user", f"{os.getuid()}:{os.getgid()}"]
        if self.name == "podman" and os.geteuid() != 0:
            args.append("--userns=keep-id")
        return args


@functools.cache
def _working(name: str) -> Engine | None:
    path = shutil.which(name)
    if path is None:
        return None
    try:
        # No --format: podman's info has no {{.ID}} field, so a template would fail on a
        # working podman. `docker info` exits non-zero when the daemon does not answer.
        result = subprocess.run([path, "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Engine(name, path) if result.returncode == 0 else None


def find_engine(preferred: str | None = None) -> Engine | None:
    """The engine to use, or None when none works.

    With ``preferred`` ("docker" or "podman") that engine must work, else ``ConfigError``.
    Without it, the first of docker, podman that answers.
    """
    if preferred is not None:
        if preferred not in ENGINES:
            raise ConfigError(f"unknown container engine {preferred!r}: use docker or podman")
        engine = _working(preferred)
        if engine is None:
            hint = "is not installed" if shutil.which(preferred) is None else "does not answer"
            raise ConfigError(
                f"container engine {preferred} {hint} (`{preferred} info` failed); "
                "start it, choose another with --engine, or use --no-container"
            )
        return engine
    for name in ENGINES:
        engine = _working(name)
        if engine is not None:
            return engine
    return None
