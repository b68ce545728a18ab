"""docker for tests: Debian's ``docker.io`` daemon, started by the suite itself.

One ``dockerd`` per test session (it takes a few seconds to start), with everything of its
own: data root, exec root (where it starts its own containerd), pid file, socket and an
empty daemon config, so it never touches (or needs) the machine's docker. No iptables and
no bridge make it work in a plain container or VM; containers then have no network
(``--network none`` is what they get by default without a bridge), and base images are
imported from a local rootfs (``docker import``), never pulled.

Storage is overlay2 where the kernel can mount overlayfs on the data root (these VMs can),
else vfs, which works anywhere but copies the whole parent for every layer and every
container: the classic builder makes two such copies per Dockerfile instruction, so
building ``container/`` on the debootstrapped Debian base took 94 s with vfs against 11 s
with overlay2 here (load 2.5), and ran past ten minutes at load 16. :attr:`Dockerd.driver`
says which one the daemon got; ``SUPERBATCH_TEST_DOCKER_STORAGE=vfs`` (or ``overlay2``)
chooses it instead.

Clients reach it through the environment :attr:`Dockerd.env` returns: ``DOCKER_HOST`` (its
socket) and ``DOCKER_CONFIG`` (a client config dir of its own, where ``docker login`` keeps
credentials).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "docker is needed for the docker-engine tests: apt-get install -y docker.io "
    "(scripts/install-test-deps does it)"
)


class DockerUnavailable(RuntimeError):
    pass


@dataclass
class Dockerd:
    root: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]  # os.environ plus DOCKER_HOST and DOCKER_CONFIG
    driver: str  # the storage driver: "overlay2" or "vfs"

    @property
    def config_dir(self) -> Path:
        return Path(self.env["DOCKER_CONFIG"])

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def stop(self) -> None:
        """Stop the daemon and delete its images and layers."""
        self.process.terminate()  # dockerd stops its containers and its containerd
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root / "data", ignore_errors=True)


def start_dockerd(root: Path) -> Dockerd:
    """Start a private dockerd under ``root`` (keep the path short: it holds a socket):
    on overlay2 when it works there (see the module's note), else on vfs."""
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists() or shutil.which("docker") is None:
        raise DockerUnavailable(INSTALL_HINT)
    if os.geteuid() != 0:
        raise DockerUnavailable("dockerd needs root: run the container tests as root (as CI does)")
    root.mkdir(parents=True, exist_ok=True)
    driver = os.environ.get("SUPERBATCH_TEST_DOCKER_STORAGE") or (
        "overlay2" if overlay_works(root) else "vfs"
    )
    if driver not in ("overlay2", "vfs"):
        raise DockerUnavailable(f"SUPERBATCH_TEST_DOCKER_STORAGE={driver}: use overlay2 or vfs")
    return _start(dockerd, root, driver)


def overlay_works(root: Path) -> bool:
    """Whether an overlayfs mount works on ``root``'s file system (what overlay2 needs:
    not on an overlay itself, and mounts allowed here). Tried, not guessed: one tiny mount."""
    probe = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=root))
    try:
        for part in ("lower", "upper", "work", "merged"):
            (probe / part).mkdir()
        (probe / "lower" / "file").write_text("lower\n")
        options = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(probe / "merged")],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            return False
        try:
            return (probe / "merged" / "file").read_text() == "lower\n"
        finally:
            subprocess.run(["umount", str(probe / "merged")], capture_output=True, check=False)
    except OSError:
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _start(dockerd: str, root: Path, driver: str) -> Dockerd:
    socket = root / "docker.sock"
    (root / "daemon.json").write_text("{}\n")
    namespace = f"superbatch-test-{os.getpid()}"
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            dockerd,
            f"--config-file={root / 'daemon.json'}",
            f"--storage-driver={driver}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--bridge=none",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
            f"--host=unix://{socket}",
            # Namespaces of our own, should a system containerd be there to share.
            f"--containerd-namespace={namespace}",
            f"--containerd-plugins-namespace={namespace}-plugins",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the suite reaches the suite, which stops it
    )
    config = root / "client"
    config.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["DOCKER_HOST"] = f"unix://{socket}"
    env["DOCKER_CONFIG"] = str(config)
    daemon = Dockerd(root, process, env, driver)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DockerUnavailable(f"dockerd exited: {daemon.log.read_text()[-800:]}")
        if socket.exists() and docker("version", env=env, check=False) is not None:
            return daemon
        time.sleep(0.2)
    daemon.stop()
    raise DockerUnavailable(f"dockerd did not answer within 60s: {daemon.log.read_text()[-800:]}")


def docker(*args: str, env: dict[str, str], check: bool = True) -> str | None:
    """``docker ARGS`` against the daemon in ``env``: its stdout (None when it failed and
    ``check`` is false)."""
    result = subprocess.run(["docker", *args], env=env, capture_output=True, check=False)
    if result.returncode != 0:
        if not check:
            return None
        raise DockerUnavailable(
            f"docker {' '.join(args[:2])} failed: {result.stderr.decode(errors='replace')[-800:]}"
        )
    return result.stdout.decode()
