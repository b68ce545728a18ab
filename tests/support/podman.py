"""podman for tests: configured through files so the runner can call plain ``podman``.

On these machines podman runs as root with the vfs storage driver, runc and cgroupfs, and
needs ``default_ulimits = []``. Rather than passing flags (which the runner would have to
know about), :func:`podman_env` writes a ``containers.conf`` and ``storage.conf`` into the
test cache and returns the environment variables that point podman at them, with storage of
its own so tests never touch the machine's images.

No public image can be pulled here, so base images are made from a local rootfs:
:func:`busybox_image` imports a busybox-static rootfs (seconds).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.support.paths import cache_dir, cache_lock

INSTALL_HINT = (
    "podman is needed for container tests: apt-get install -y podman runc busybox-static "
    "(scripts/install-test-deps does it)"
)
BUSYBOX_IMAGE = "localhost/superbatch-test/busybox:1"
_BUSYBOX_APPLETS = [
    "sh",
    "ls",
    "cat",
    "echo",
    "env",
    "id",
    "mkdir",
    "wc",
    "awk",
    "sed",
    "sleep",
    "true",
    "false",
    "printf",
    "tr",
    "cut",
    "sort",
    "head",
    "tail",
    "touch",
    "stat",
    "test",
    "cp",
    "mv",
    "rm",
    "grep",
    "find",
    "xargs",
]


class PodmanUnavailable(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    """Environment (a copy of ``os.environ`` plus CONTAINERS_*) under which podman works."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        raise PodmanUnavailable(INSTALL_HINT)
    root = cache_dir("podman")
    conf = root / "containers.conf"
    conf.write_text(
        "[containers]\ndefault_ulimits = []\n\n"
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    storage = root / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root / "run"}"\ngraphroot = "{root / "graph"}"\n'
    )
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(conf)
    env["CONTAINERS_STORAGE_CONF"] = str(storage)
    return env


def podman(*args: str, env: dict[str, str], input: bytes | None = None) -> str:
    result = subprocess.run(
        ["podman", *args], env=env, input=input, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise PodmanUnavailable(
            f"podman {' '.join(args[:2])} failed: {result.stderr.decode(errors='replace')[-800:]}"
        )
    return result.stdout.decode()


def image_exists(name: str, *, env: dict[str, str]) -> bool:
    return (
        subprocess.run(
            ["podman", "image", "exists", name], env=env, capture_output=True, check=False
        ).returncode
        == 0
    )


def busybox_image(env: dict[str, str]) -> str:
    """A tiny local base image (busybox-static applets, root and nobody users); built once."""
    with cache_lock("busybox-image"):
        if not image_exists(BUSYBOX_IMAGE, env=env):
            podman("import", "-q", str(_busybox_rootfs()), BUSYBOX_IMAGE, env=env)
        return BUSYBOX_IMAGE


def busybox_rootfs() -> Path:
    """The busybox rootfs tarball every engine imports :data:`BUSYBOX_IMAGE` from."""
    with cache_lock("busybox-image"):
        return _busybox_rootfs()


def _busybox_rootfs() -> Path:
    root = cache_dir("podman") / "busybox-rootfs.tar"
    if root.exists():
        return root
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise PodmanUnavailable(INSTALL_HINT)
    partial = root.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        for name in ("bin", "etc", "root", "home"):
            add_dir(name)
        add_dir("tmp", 0o1777)
        tar.add(busybox, arcname="bin/busybox")
        for applet in _BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for name, text in (
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
                "worker:x:1000:1000:worker:/home:/bin/sh\n",
            ),
            ("etc/group", "root:x:0:\nnobody:x:65534:\nworker:x:1000:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644

            tar.addfile(info, io.BytesIO(data))
    partial.rename(root)
    return root
