"""One view of the two container engines the suite starts itself (podman and docker), so
an image test can be parametrised over both: the environment that points the engine (and
the ``superbatch`` commands a test runs) at the suite's own setup, and the base images
every test builds on, imported from local rootfs tarballs under the same names."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import docker as docker_support
from tests.support import podman as podman_support
from tests.support.paths import cache_dir

ENGINES = ("podman", "docker")


@dataclass(frozen=True)
class EngineUnderTest:
    name: str  # "podman" | "docker"
    env: dict[str, str]  # a whole environment under which plain `<name>` uses the test setup
    variables: tuple[str, ...]  # the keys of env that do it (for a CLI subprocess's env)
    auth_file: Path  # where `<name> login` keeps registry credentials
    state_dirs: tuple[Path, ...] = field(default=())  # the engine's own small state files

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.name, *args], env=self.env, capture_output=True, text=True, check=check
        )

    def image_id(self, ref: str) -> str | None:
        found = self("image", "inspect", "--format", "{{.Id}}", ref, check=False)
        if found.returncode != 0:
            return None
        image = found.stdout.strip()
        return image if image.startswith("sha256:") else f"sha256:{image}"

    def local_name(self, ref: str) -> str:
        """How the engine names a short name ``image build`` tagged (podman: localhost/...)."""
        first = ref.split("/", 1)[0]
        has_registry = "/" in ref and ("." in first or ":" in first or first == "localhost")
        return ref if self.name == "docker" or has_registry else f"localhost/{ref}"

    def cli_vars(self) -> dict[str, str]:
        return {key: self.env[key] for key in self.variables}

    def import_rootfs(self, tarball: Path, name: str, *, cmd: str | None = None) -> str:
        """Import a rootfs tarball as image ``name`` unless the engine has it already."""
        if self.image_id(name) is None:
            change = ["--change", f'CMD ["{cmd}"]'] if cmd else []
            self("import", *change, str(tarball), name)
        return name

    def busybox(self) -> str:
        """:data:`tests.support.podman.BUSYBOX_IMAGE` in this engine."""
        if self.name == "podman":
            return podman_support.busybox_image(self.env)
        return self.import_rootfs(podman_support.busybox_rootfs(), podman_support.BUSYBOX_IMAGE)


def podman_engine(env: dict[str, str], *, auth_file: Path, runroot: Path) -> EngineUnderTest:
    keys = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF")
    return EngineUnderTest(
        "podman",
        env,
        tuple(key for key in (*keys, "REGISTRY_AUTH_FILE") if key in env),
        auth_file,
        (runroot,),
    )


def docker_engine(daemon: docker_support.Dockerd) -> EngineUnderTest:
    return EngineUnderTest(
        "docker",
        daemon.env,
        ("DOCKER_HOST", "DOCKER_CONFIG"),
        daemon.config_dir / "config.json",
        (daemon.root / "exec",),
    )


def use_engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, *, podman_env: str
) -> EngineUnderTest:
    """The engine ``request.param`` names, made the one in-process CLI commands and their
    engine subprocesses use (through the environment): podman under the environment the
    fixture ``podman_env`` returns, or docker on the session's private daemon (the
    ``dockerd`` fixture, started on first use)."""
    import superbatch.engine

    if request.param == "podman":
        env: dict[str, str] = request.getfixturevalue(podman_env)
        # without REGISTRY_AUTH_FILE, rootful podman's default (no test there logs in)
        auth_file = Path(env.get("REGISTRY_AUTH_FILE", f"/run/containers/{os.getuid()}/auth.json"))
        chosen = podman_engine(env, auth_file=auth_file, runroot=cache_dir("podman") / "run")
    else:
        chosen = docker_engine(request.getfixturevalue("dockerd"))
    for key, value in chosen.cli_vars().items():
        monkeypatch.setenv(key, value)
    superbatch.engine._working.cache_clear()  # a daemon started after an earlier look
    return chosen
