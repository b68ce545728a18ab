"""A lean uploader for small blobs: one keep-alive https connection per thread.

At thousands of small inputs the storage SDK's pipeline costs several times the CPU of the
request itself (it builds a client per blob, scans the environment for proxies, runs a dozen
policies), and on a laptop that CPU, not the network, bounds staging. This sends the same
``Put Blob`` request the SDK would, authorised the same way (an Entra ID bearer token from
the same credential, never a key or SAS), with its own retries for throttling and
connection resets (a ``Put Blob`` of the same bytes is safe to repeat).

Used only when no proxy is configured; large files and proxied setups use the SDK.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from superbatch.azure.errors import unreachable_message
from superbatch.azure.retry import Deadline, retry_after, transport_timeouts
from superbatch.errors import RemoteError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

STORAGE_SCOPE = "https://storage.azure.com/.default"
SERVICE_VERSION = "2026-10-06"  # azure-storage-blob's; tests/azure/test_blob_put.py
SMALL_BLOB_BYTES = 4 << 20
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")


def _read_all(response: http.client.HTTPResponse) -> bytes:
    return response.read()


class BlobPutter:
    """``put(name, path, metadata)`` into one container, from any number of threads."""

    def __init__(
        self, container_url: str, credential: TokenCredential, *, ca_bundle: str | None = None
    ) -> None:
        url = urllib.parse.urlsplit(container_url)
        if url.scheme != "https":
            raise ValueError("bearer tokens go over https only")
        self._host = url.hostname or ""
        self._port = url.port or 443
        self._path = url.path.rstrip("/")
        self._credential = credential
        self._context = ssl.create_default_context(cafile=ca_bundle or _default_cafile())
        self._local = threading.local()
        self._token_lock = threading.Lock()
        self._token: AccessToken | None = None

    def _bearer(self, *, refresh: bool = False) -> str:
        with self._token_lock:
            token = self._token
            if refresh or token is None or token.expires_on - time.time() < 300:
                token = self._token = self._credential.get_token(STORAGE_SCOPE)
            return f"Bearer {token.token}"

    def _connection(self) -> http.client.HTTPSConnection:
        connection: http.client.HTTPSConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(
                self._host,
                self._port,
                context=self._context,
                timeout=transport_timeouts()["read_timeout"],
            )
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None

    def put(self, name: str, source: Path, metadata: dict[str, str]) -> None:
        """PUT one blob, retried by the storage policy's bounds (azure/retry.py)."""
        body = source.read_bytes()
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(body)),
            **{f"x-ms-meta-{key}": value for key, value in metadata.items()},
        }
        self.request("PUT", name, headers=headers, body=body, ok=201, action="upload")

    def request(
        self,
        method: str,
        name: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        ok: int,
        action: str,
        query: str = "",
    ) -> bytes:
        """One request about blob ``name``: bearer token, keep-alive connection, retries."""
        return self.exchange(
            method,
            name,
            headers=headers,
            body=body,
            ok=ok,
            action=action,
            query=query,
            read=_read_all,
        )

    def exchange(
        self,
        method: str,
        name: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        ok: int,
        action: str,
        query: str = "",
        read: Callable[[http.client.HTTPResponse], T],
    ) -> T:
        """:meth:`request` whose successful answer is consumed by ``read`` (which may stream
        it); a connection lost while ``read`` runs is retried like any other, so ``read``
        must be safe to start again (writing at fixed offsets is). ``name`` "" is the
        container itself."""
        path = f"{self._path}/{urllib.parse.quote(name, safe='~/')}" if name else self._path
        if query:
            path = f"{path}?{query}"
        label = name or f"in {self._path.rsplit('/', 1)[-1]}"
        refreshed = False
        deadline = Deadline()
        while True:
            sent = {
                "Authorization": self._bearer(),
                "x-ms-version": SERVICE_VERSION,
                "x-ms-date": formatdate(usegmt=True),
                **headers,
            }
            try:
                connection = self._connection()
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                if response.status == ok:
                    return read(response)
                detail = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if not deadline.retry():
                    message = unreachable_message(
                        exc,
                        action=f"{action} {label}",
                        service="storage",
                        endpoint=f"{self._host}:{self._port}",
                    )
                    raise RemoteError(message) from exc
                continue
            except BaseException:
                self._drop_connection()  # an answer half read: the connection is unusable
                raise
            if response.status == 401 and not refreshed:
                refreshed = True
                self._bearer(refresh=True)
                continue
            asked = retry_after(dict(response.getheaders()))
            if response.status in _RETRY_STATUSES and deadline.retry(asked):
                continue
            code = response.getheader("x-ms-error-code")
            raise _put_error(label, response.status, code, detail, action=action)


def _put_error(
    name: str, status: int, code: str | None, detail: bytes, *, action: str = "upload"
) -> Exception:
    from superbatch.azure.errors import ROLE_HINTS
    from superbatch.errors import ConfigError

    if status == 403:
        return ConfigError(
            f"not allowed to {action} {name} ({code or 403}): your identity needs "
            f"{ROLE_HINTS['storage']} (`pulumi up` grants it to the deploying user; role "
            "changes take a few minutes)"
        )
    if code == "ContainerNotFound":
        return ConfigError(f"container not found to {action} {name}: run `pulumi up`")
    text = detail.decode("utf-8", errors="replace")[:200]
    return RemoteError(f"failed to {action} {name}: {status} {code or ''} {text}".strip())


def _default_cafile() -> str | None:
    try:
        import certifi

        return str(certifi.where())
    except ImportError:
        return None


def lean_putter(container_url: str, credential: object) -> BlobPutter | None:
    """A :class:`BlobPutter` when it applies (https, a token credential, no proxy), else None."""
    import os

    if any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    if not container_url.startswith("https://") or not hasattr(credential, "get_token"):
        return None
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return BlobPutter(container_url, credential, ca_bundle=ca_bundle)
