"""Azurite, Microsoft's storage emulator, for tests: installed from npm on first use.

``start_azurite()`` runs ``azurite-blob`` in memory on 127.0.0.1 on a port it binds itself and
returns an :class:`Azurite` whose ``connection_string`` / ``credential`` reach it with the
well-known development account (the emulator's documented, public key: it exists only in
Azurite and grants nothing in Azure). Tests that need it use the ``azurite`` fixture.

``start_azurite(https=True)`` serves https with the throwaway certificate from
:mod:`tests.support.tls` and ``--oauth basic``, so blob clients can also use a bearer-token
credential (:class:`tests.support.tokens.FakeTokenCredential`); pass
``connection_verify=str(azurite.ca_bundle)`` to those clients (``blob_client_kwargs()``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import cache_dir, cache_lock
from tests.support.tls import tls_material

AZURITE_VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
# Azurite's documented development key (public, emulator-only; see Microsoft's Azurite docs).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


# Azurite's own start-up line, e.g. "... successfully listens on https://127.0.0.1:40547"
_LISTENING = re.compile(r"successfully listens on https?://127\.0\.0\.1:(\d+)")


class AzuriteUnavailable(RuntimeError):
    pass


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ca_bundle: Path | None = None  # set when served over https

    @property
    def https(self) -> bool:
        return self.ca_bundle is not None

    @property
    def blob_endpoint(self) -> str:
        scheme = "https" if self.https else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        scheme = "https" if self.https else "http"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def blob_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments an azure-storage-blob client needs to trust this Azurite."""
        return {"connection_verify": str(self.ca_bundle)} if self.ca_bundle else {}

    @property
    def credential(self) -> dict[str, str]:
        return {"account_name": ACCOUNT, "account_key": DEV_KEY}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def azurite_binary() -> Path:
    """Path of ``azurite-blob``, installing the pinned npm package into the cache if missing.

    One process installs at a time; a stamp written after a good install marks it complete,
    so a folder left by an install that was killed half-way is removed and installed again.
    """
    with cache_lock(f"azurite-{AZURITE_VERSION}"):
        prefix = cache_dir(f"azurite-{AZURITE_VERSION}")
        binary = prefix / "node_modules" / ".bin" / "azurite-blob"
        stamp = prefix / "installed"
        if stamp.exists() and binary.exists():
            return binary
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise AzuriteUnavailable(
                "Azurite needs Node.js and npm: install them (Debian: apt-get install nodejs "
                "npm), then re-run; the tests install the azurite npm package themselves."
            )
        shutil.rmtree(prefix / "node_modules", ignore_errors=True)
        result = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"azurite@{AZURITE_VERSION}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not binary.exists():
            raise AzuriteUnavailable(
                f"npm install azurite@{AZURITE_VERSION} failed (exit {result.returncode}): "
                f"{result.stderr.strip()[-500:]}"
            )
        stamp.write_text(f"azurite@{AZURITE_VERSION}\n")
        return binary


def start_azurite(*, https: bool = False, startup_timeout: float = 120.0) -> Azurite:
    """Start ``azurite-blob`` in memory; ``https=True`` adds TLS and bearer-token auth.

    Azurite binds port 0 itself and we read the port it got from its own start-up line. A
    port picked beforehand (bind 0, close, hand the number on) could be taken by another
    server in between; the probe would then have found that server "up", and clients meant
    for one server reached the other (seen: a Batch client answered by Azurite's body-less
    400 ``Bad Request``).
    """
    binary = azurite_binary()
    log = cache_dir("logs") / f"azurite-{os.getpid()}-{uuid.uuid4().hex[:8]}.log"
    args = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
        "--disableTelemetry",
    ]
    ca_bundle = None
    if https:
        tls = tls_material()
        ca_bundle = tls.ca_bundle
        args += ["--oauth", "basic", "--cert", str(tls.cert), "--key", str(tls.key)]
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + startup_timeout
    port = None
    while port is None and time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteUnavailable(f"azurite-blob exited early: {log.read_text()[-500:]}")
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found is None:
            time.sleep(0.05)
            continue
        port = int(found.group(1))
    if port is None:
        process.kill()
        process.wait()
        raise AzuriteUnavailable(
            f"azurite-blob did not say where it listens in {startup_timeout}s: "
            f"{log.read_text()[-500:]}"
        )
    azurite = Azurite(process, port, log, ca_bundle)
    probe_context = None
    if ca_bundle is not None:
        import ssl

        probe_context = ssl.create_default_context(cafile=str(ca_bundle))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteUnavailable(f"azurite-blob exited early: {log.read_text()[-500:]}")
        try:
            urllib.request.urlopen(
                f"{azurite.blob_endpoint}?comp=list", timeout=1, context=probe_context
            )
        except urllib.error.HTTPError as answer:
            if not (answer.headers.get("Server") or "").startswith("Azurite"):
                azurite.stop()
                raise AzuriteUnavailable(
                    f"port {port} answered, but not as Azurite: {answer.headers.get('Server')}"
                ) from None
            return azurite  # it answered (403 without auth): it is up
        except OSError:
            time.sleep(0.1)
            continue
        return azurite
    azurite.stop()
    raise AzuriteUnavailable(f"azurite-blob did not answer on port {port} in {startup_timeout}s")
