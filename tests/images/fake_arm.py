"""A loopback fake of ARM's ``importImage`` operation of Azure Container Registry, serving
https with the test CA, that really copies the image between two real registries.

The contract it follows (REST reference "Registries - Import Image",
learn.microsoft.com/rest/api/containerregistry/registries/import-image, api-version
2023-07-01; ARM's async operation patterns, learn.microsoft.com/azure/azure-resource-manager/
management/async-operations):

- ``POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/
  registries/{name}/importImage?api-version=...`` with a bearer token for ARM and the JSON
  body ``{"source": {"registryUri", "sourceImage"}, "targetTags": [...], "mode":
  "NoForce"|"Force"}`` -> ``202 Accepted`` with either a ``Location`` (polled: ``202``
  while running, then ``200``) or an ``Azure-AsyncOperation`` header (polled: ``200
  {"status": "InProgress"|"Succeeded"|"Failed", "error": ...}``) and ``Retry-After``. Which
  one the real service sends is not documented for this operation: the fake does either
  (``async_operation``) and the runner must follow both.
- Without ``Microsoft.ContainerRegistry/registries/importImage/action`` (the role
  "Container Registry Data Importer and Data Reader"): ``403 {"error": {"code":
  "AuthorizationFailed", ...}}`` (``granted = False``).

The copy is done with the registry v2 API, from the registry a ``registryUri`` maps to
(``sources``, e.g. ``docker.io`` -> a loopback registry standing in for Docker Hub) to the
registry behind the fake ACR: manifests (and an index's children) byte for byte, so the
digest is the source's, and every blob they name.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.azure.registry_image import put_blob
from tests.support.tls import tls_material

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_ROUTE = (
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry"
    "/registries/{name}/importImage"
)


def _get(url: str, accept: str | None = None) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.read(), answer.headers.get("Content-Type", "")


def copy_image(source: str, repository: str, reference: str, target: str, tags: list[str]) -> None:
    """Copy ``source/repository:reference`` into ``target`` under each ``repo:tag``."""
    body, media_type = _get(
        f"http://{source}/v2/{repository}/manifests/{reference}", MANIFEST_TYPES
    )
    manifest: dict[str, Any] = json.loads(body)
    for target_tag in tags:
        target_repo, _, tag = target_tag.rpartition(":")
        _copy_manifest(source, repository, body, media_type, manifest, target, target_repo, tag)


def _copy_manifest(
    source: str, repository: str, body: bytes, media_type: str, manifest: dict[str, Any],
    target: str, target_repo: str, reference: str,
) -> None:  # fmt: skip
    for child in manifest.get("manifests") or []:  # an index: every platform's manifest first
        child_body, child_type = _get(
            f"http://{source}/v2/{repository}/manifests/{child['digest']}", MANIFEST_TYPES
        )
        _copy_manifest(
            source, repository, child_body, child_type, json.loads(child_body),
            target, target_repo, child["digest"],
        )  # fmt: skip
    blobs = [manifest["config"]] if "config" in manifest else []
    for blob in [*blobs, *(manifest.get("layers") or [])]:
        data, _ = _get(f"http://{source}/v2/{repository}/blobs/{blob['digest']}")
        put_blob(target, target_repo, data)
    put = urllib.request.Request(
        f"http://{target}/v2/{target_repo}/manifests/{reference}",
        method="PUT",
        data=body,
        headers={"Content-Type": media_type.split(";")[0]},
    )
    urllib.request.urlopen(put, timeout=60).close()


@dataclass
class FakeArmState:
    target: str  # the registry behind the fake ACR ("127.0.0.1:PORT")
    registry_name: str  # the only registry this ARM knows
    tokens: set[str]  # bearer tokens it accepts (the fake ACR's Entra tokens: one tenant)
    sources: dict[str, str] = field(default_factory=dict)  # registryUri -> loopback host
    granted: bool = True  # the caller has importImage/action
    async_operation: bool = False  # poll Azure-AsyncOperation instead of Location
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body
    operations: dict[str, str] = field(default_factory=dict)  # id -> InProgress|Succeeded|..
    errors: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if (
            not auth.startswith("Bearer ")
            or auth.removeprefix("Bearer ") not in self.server.state.tokens
        ):
            self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return False
        return True

    def do_POST(self) -> None:
        state = self.server.state
        split = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = split.path.split("/")
        expected = _ROUTE.split("/")
        if len(parts) != len(expected) or any(
            e != p for e, p in zip(expected, parts, strict=True) if not e.startswith("{")
        ):
            return self._error(404, "NotFound", f"no route {split.path}")
        if not self._authorized():
            return None
        payload = json.loads(body or b"{}")
        state.calls.append(("POST", split.path + "?" + split.query, payload))
        if "api-version=" not in split.query:
            return self._error(400, "MissingApiVersionParameter", "api-version is required")
        if parts[8] != state.registry_name:
            return self._error(404, "ResourceNotFound", f"registry {parts[8]} not found")
        if not state.granted:
            return self._error(
                403, "AuthorizationFailed", "The client does not have authorization to perform "
                "action 'Microsoft.ContainerRegistry/registries/importImage/action'.",
            )  # fmt: skip
        source = payload.get("source") or {}
        host = state.sources.get(source.get("registryUri", ""))
        image = source.get("sourceImage", "")
        if host is None or not image or payload.get("mode", "NoForce") not in ("NoForce", "Force"):
            return self._error(400, "InvalidParameter", "source registryUri/sourceImage")
        repository, sep, reference = image.partition("@")
        if not sep:
            repository, _, reference = (
                image.rpartition(":") if ":" in image else (image, "", "latest")
            )
        tags = payload.get("targetTags") or [f"{repository}:{reference}"]
        operation = secrets.token_hex(8)
        with state.lock:
            state.operations[operation] = "InProgress"

        def run() -> None:
            try:
                copy_image(host, repository, reference, state.target, tags)
                outcome = "Succeeded"
            except Exception as exc:  # the operation fails; the poller reports it
                state.errors[operation] = str(exc)
                outcome = "Failed"
            with state.lock:
                state.operations[operation] = outcome

        threading.Thread(target=run, daemon=True).start()
        base = f"https://127.0.0.1:{self.server.server_address[1]}"
        status_url = f"{base}/operations/{operation}?api-version=2023-07-01"
        header = "Azure-AsyncOperation" if state.async_operation else "Location"
        self._json(202, {}, {header: status_url, "Retry-After": "1"})
        return None

    def do_GET(self) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/operations/") or not self._authorized():
            return None if path.startswith("/operations/") else self._error(404, "NotFound", path)
        operation = path.removeprefix("/operations/")
        with state.lock:
            status = state.operations.get(operation)
        state.calls.append(("GET", path, None))
        if status is None:
            return self._error(404, "NotFound", "no such operation")
        if state.async_operation:
            answer: dict[str, Any] = {"status": status}
            if status == "Failed":
                answer["error"] = {"code": "ImportFailed", "message": state.errors[operation]}
            return self._json(200, answer)
        if status == "InProgress":
            return self._json(
                202,
                {},
                {
                    "Location": f"https://127.0.0.1:{self.server.server_address[1]}{self.path}",
                    "Retry-After": "1",
                },
            )
        if status == "Failed":
            return self._error(500, "ImportFailed", state.errors[operation])
        return self._json(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeArmState


class FakeArm:
    """Start with :meth:`start`; ``endpoint`` is ``https://127.0.0.1:<port>`` (test CA)."""

    def __init__(self, state: FakeArmState) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        material = tls_material()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(material.cert, material.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.state = state
        self.state = state
        self.ca_bundle = material.ca_bundle
        self.endpoint = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeArm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
