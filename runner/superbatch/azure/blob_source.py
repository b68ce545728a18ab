"""``az://`` inputs: listing and looking up blobs with the submitting identity.

Where a container lives: with a stack, the stack's ``data_containers`` output maps
``<account>/<container>`` to its URL (from the stack config ``dataContainers``, which also
grants the nodes and the runner Storage Blob Data Reader on exactly those containers); any
other container is refused before anything is created. Without a stack (``--local``) the
account's endpoint is ``$SUPERBATCH_BLOB_ENDPOINT`` (``{account}`` filled in; for private
endpoints, sovereign clouds or an emulator), else ``https://<account>.blob.core.windows.net``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superbatch.azure.errors import translate_azure_error
from superbatch.errors import ConfigError, SpecError
from superbatch.model import RemoteFile
from superbatch.remote import DATA_CONTAINERS_KEY, SCHEME, BlobInfo

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ENDPOINT_ENV_VAR = "SUPERBATCH_BLOB_ENDPOINT"
DEFAULT_ENDPOINT = "https://{account}.blob.core.windows.net"
LIST_PAGE_SIZE = 5000  # the service's own maximum per page
READER_ROLE = "'Storage Blob Data Reader'"


def endpoint_for(account: str, environ: Mapping[str, str] | None = None) -> str:
    template = (environ if environ is not None else os.environ).get(ENDPOINT_ENV_VAR)
    template = template or DEFAULT_ENDPOINT
    if "{account}" not in template:
        raise ConfigError(f"{ENDPOINT_ENV_VAR} must contain {{account}} (got {template!r})")
    return template.replace("{account}", account).rstrip("/")


class StorageBlobs:
    """A :class:`superbatch.remote.BlobSource` over azure-storage-blob."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        containers: Mapping[str, str] | None = None,
        stack: str = "the stack",
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        self._credential = credential
        self._containers = containers  # None: any container (no stack to grant roles)
        self._stack = stack
        self._page_size = page_size
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def container_url(self, account: str, container: str) -> str:
        if self._containers is None:
            return f"{endpoint_for(account)}/{container}"
        url = self._containers.get(f"{account}/{container}")
        if url is None:
            declared = ", ".join(sorted(self._containers)) or "none"
            raise ConfigError(
                f"{SCHEME}{account}/{container}: {self._stack}'s nodes cannot read this "
                f"container: add it to the stack config {DATA_CONTAINERS_KEY} (declared: "
                f"{declared}) and run `pulumi up`"
            )
        return url.rstrip("/")

    def _client(self, account: str, container: str) -> Any:
        url = self.container_url(account, container)
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                from superbatch.azure.credentials import container_client

                client = self._clients[url] = container_client(url, self._credential)
            return client

    def list_blobs(self, account: str, container: str, prefix: str) -> Iterator[BlobInfo]:
        client = self._client(account, container)
        where = f"{SCHEME}{account}/{container}/{prefix}"
        try:
            pages = client.list_blobs(
                name_starts_with=prefix or None, results_per_page=self._page_size
            ).by_page()
            for page in pages:
                for item in page:
                    yield BlobInfo(item.name, str(item.etag).strip('"'), int(item.size))
        except Exception as exc:
            raise _error(exc, f"list {where}*", account, container) from exc

    def blob(self, account: str, container: str, name: str) -> BlobInfo | None:
        from azure.core.exceptions import ResourceNotFoundError

        client = self._client(account, container)
        try:
            props = client.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise _error(exc, "read", account, container) from exc
            return None
        except Exception as exc:
            raise _error(
                exc, f"read {SCHEME}{account}/{container}/{name}", account, container
            ) from exc
        return BlobInfo(name, str(props.etag).strip('"'), int(props.size))


def _error(exc: BaseException, action: str, account: str, container: str) -> Exception:
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "status_code", None)
    where = f"{SCHEME}{account}/{container}"
    if code == "ContainerNotFound" or (status == 404 and code is None):
        return SpecError(f"{where}: no such container")
    if status == 403:
        return ConfigError(
            f"not allowed to {action} ({code or 403}): your identity needs {READER_ROLE} on "
            f"{where} (with a stack: list it in {DATA_CONTAINERS_KEY} and run `pulumi up`)"
        )
    return translate_azure_error(exc, action=action, service="storage")


def fetch_blobs(
    files: Iterable[RemoteFile], cache: Path, credential: TokenCredential, *, concurrency: int = 8
) -> dict[str, Path]:
    """Download each blob once into ``cache`` (``--local``); url -> local path.

    Named by URL and ETag, so a re-run reuses what is there; the download insists on that
    ETag, so a blob changed since the job was resolved is refused, not silently mixed in.
    """
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    wanted = {item.url: item for item in files}
    paths = {
        url: cache / hashlib.sha256(f"{url}\n{item.etag}".encode()).hexdigest()[:32]
        for url, item in wanted.items()
    }
    todo = [url for url, path in paths.items() if not path.is_file()]
    if todo:
        cache.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for _ in pool.map(lambda u: _fetch(wanted[u], paths[u], credential), todo):
                pass
    return paths


def _fetch(item: RemoteFile, path: Path, credential: TokenCredential) -> None:
    from azure.core import MatchConditions
    from azure.storage.blob import BlobClient

    from superbatch.azure.credentials import _transport_kwargs

    client = BlobClient.from_blob_url(item.url, credential=credential, **_transport_kwargs())
    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("wb") as sink:
            client.download_blob(
                etag=f'"{item.etag}"',
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=4,
            ).readinto(sink)
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if getattr(exc, "status_code", None) == 412:
            raise SpecError(
                f"{item.source} changed since the job was resolved: run again (a new job)"
            ) from exc
        if getattr(exc, "status_code", None) == 403:
            raise ConfigError(
                f"not allowed to read {item.source}: your identity needs {READER_ROLE} on its "
                "container"
            ) from exc
        raise translate_azure_error(
            exc, action=f"download {item.source}", service="storage"
        ) from exc
