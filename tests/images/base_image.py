"""A Debian bookworm + python3 base image made locally with debootstrap (no registry pulls).

Built once and cached: the rootfs tarball under ``.cache/images/`` and the image in the test
podman store. A cold build takes about a minute here (debootstrap from the configured apt
mirror, then ``podman import``); warm, it is an ``image exists`` check.

Slim, as Debian's own ``-slim`` images: no docs, man pages or message catalogues, and no
byte code (169 MB down to 111 MB). Every build on it copies the whole base at least once per
layer on a vfs store (podman here; docker where overlay2 cannot mount), and pushes and
pulls it, so its size is most of what the ``container/`` end-to-end test costs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.paths import cache_dir, cache_lock
from tests.support.podman import image_exists, podman

PYTHON_BASE_IMAGE = "localhost/superbatch-test/debian-python:bookworm-slim"
SUITE = "bookworm"
PACKAGES = "python3,python3-venv"
# Left out of the rootfs (their folders stay): what Debian's -slim images leave out.
SLIM_FOLDERS = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
INSTALL_HINT = (
    "debootstrap is needed: apt-get install -y debootstrap (scripts/install-test-deps does it)"
)


class BaseImageUnavailable(RuntimeError):
    pass


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (sources.list or deb822 .sources)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if not words or line.lstrip().startswith("#"):
                continue
            if words[0] == "deb" and SUITE in words and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
            if words[0] == "URIs:" and "security" not in line and "debian" in line:
                return words[1]
    return "http://deb.debian.org/debian"


def python_base_image(env: dict[str, str]) -> str:
    """The image in the test podman store."""
    with cache_lock("python-base-image"):
        if not image_exists(PYTHON_BASE_IMAGE, env=env):
            tarball = _python_rootfs()
            podman(
                "import", "-q", "--change", "CMD=/bin/sh", str(tarball), PYTHON_BASE_IMAGE, env=env
            )
        return PYTHON_BASE_IMAGE


def python_rootfs() -> Path:
    """The rootfs tarball (debootstrapped once into the test cache) every engine imports."""
    tarball = _tarball()
    if tarball.exists():  # written whole, then renamed: no need to wait for the lock
        return tarball
    with cache_lock("python-base-image"):
        return _python_rootfs()


def _tarball() -> Path:
    return cache_dir("images") / f"debian-{SUITE}-python3-slim.tar"


def _python_rootfs() -> Path:
    tarball = _tarball()
    if not tarball.exists():
        _debootstrap(tarball)
    return tarball


def _debootstrap(tarball: Path) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise BaseImageUnavailable(INSTALL_HINT)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as scratch:
        root = Path(scratch) / "rootfs"
        result = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                str(root),
                apt_mirror(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BaseImageUnavailable(
                f"debootstrap failed: {(result.stdout + result.stderr)[-800:]}"
            )
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        _slim(root)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True
        )
        partial.rename(tarball)


def _slim(root: Path) -> None:
    for folder in SLIM_FOLDERS:
        for path in (root / folder).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for cache in sorted(root.glob("usr/lib/python3*/**/__pycache__")):
        shutil.rmtree(cache)
