"""A real OCI registry on loopback: Debian's ``docker-registry`` (distribution v2)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import free_port

INSTALL_HINT = (
    "docker-registry is needed: apt-get install -y docker-registry "
    "(scripts/install-test-deps does it)"
)


class RegistryUnavailable(RuntimeError):
    pass


@dataclass
class LocalRegistry:
    host: str  # "127.0.0.1:PORT"
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(root: Path) -> LocalRegistry:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise RegistryUnavailable(INSTALL_HINT)
    port = free_port()
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  relativeurls: true\n"
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    registry = LocalRegistry(f"127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryUnavailable(
                f"docker-registry exited: {(root / 'registry.log').read_text()[-500:]}"
            )
        try:
            with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=2) as answer:
                if answer.status == 200:
                    return registry
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    registry.stop()
    raise RegistryUnavailable("docker-registry did not answer on /v2/ within 30s")
