"""Inputs already in Azure Storage: ``az://<account>/<container>/<blob name or glob>``.

A glob follows the rules of local inputs and output patterns (``*``, ``?``, ``[...]`` within
one path segment, ``**`` across segments, dot-names only when named explicitly) over blob
names, ``/`` being the separator. Blobs are listed on the server with the longest literal
prefix of the glob (paged, any number), then matched here; a name without a wildcard is one
blob, looked up exactly (a blob whose name extends it is never taken along).

Where a container lives is the :class:`BlobSource`'s business: the Azure backend knows the
containers its stack may read (stack config ``dataContainers``) and refuses any other, the
local backend reaches any container your identity can read. This module stays import-light:
no Azure SDK here.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from superbatch.errors import SpecError
from superbatch.model import RemoteFile
from superbatch.patterns import has_wildcard, pattern_matches

SCHEME = "az://"
DATA_CONTAINERS_KEY = "dataContainers"  # the stack config key naming readable containers
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_FORM = "az://<account>/<container>/<blob name or glob>"


@dataclass(frozen=True, slots=True)
class AzPath:
    account: str
    container: str
    path: str  # a blob name, or a glob over blob names

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.account}/{self.container}/{self.path}"

    @property
    def container_uri(self) -> str:
        return f"{SCHEME}{self.account}/{self.container}"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    name: str
    etag: str
    size: int


class BlobSource(Protocol):
    """Lists and looks up blobs with the identity of whoever submits the job."""

    def container_url(self, account: str, container: str) -> str:
        """The container's URL (no SAS); raises ConfigError when the job may not read it."""
        ...

    def list_blobs(self, account: str, container: str, prefix: str) -> Iterable[BlobInfo]: ...

    def blob(self, account: str, container: str, name: str) -> BlobInfo | None:
        """One blob's properties, or None when there is no such blob."""
        ...


def is_az(value: str) -> bool:
    return value.startswith(SCHEME)


def parse_az(value: str, *, where: str) -> AzPath:
    """``az://account/container/path`` checked against Azure's naming rules, one line if not."""
    account, _, rest = value[len(SCHEME) :].partition("/")
    container, _, path = rest.partition("/")
    if not _ACCOUNT.fullmatch(account):
        raise SpecError(
            f"{where}: {value!r}: storage account {account!r} must be 3-24 lowercase letters or "
            f"digits ({_FORM})"
        )
    if not _CONTAINER.fullmatch(container):
        raise SpecError(
            f"{where}: {value!r}: container {container!r} must be 3-63 lowercase letters, digits "
            f"or single hyphens ({_FORM})"
        )
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in path.split("/")):
        raise SpecError(f"{where}: {value!r} must name a blob or a glob ({_FORM})")
    return AzPath(account, container, path)


def literal_prefix(glob: str) -> str:
    """Everything before the first wildcard: what the server can filter on."""
    match = re.search(r"[*?\[]", glob)
    return glob if match is None else glob[: match.start()]


def blob_url(container_url: str, name: str) -> str:
    """A blob's URL under its container's, quoted as the storage SDK quotes blob names."""
    return f"{container_url.rstrip('/')}/{urllib.parse.quote(name, safe='~/')}"


def _remote_file(path: AzPath, container_url: str, info: BlobInfo, dest: str) -> RemoteFile:
    uri = f"{path.container_uri}/{info.name}"
    return RemoteFile(blob_url(container_url, info.name), dest, info.etag, info.size, uri)


def matching_blobs(path: AzPath, blobs: BlobSource) -> list[RemoteFile]:
    """Every blob ``path`` names, sorted by name, staged at its blob name."""
    url = blobs.container_url(path.account, path.container)
    if not has_wildcard(path.path):
        info = blobs.blob(path.account, path.container, path.path)
        return [] if info is None else [_remote_file(path, url, info, info.name)]
    found = [
        info
        for info in blobs.list_blobs(path.account, path.container, literal_prefix(path.path))
        if not info.name.endswith("/") and pattern_matches(path.path, info.name)
    ]
    found.sort(key=lambda info: info.name)
    return [_remote_file(path, url, info, info.name) for info in found]


def one_blob(path: AzPath, blobs: BlobSource, *, dest: str | None = None) -> RemoteFile | None:
    """The one blob ``path`` names (no wildcards), staged under its own name by default."""
    url = blobs.container_url(path.account, path.container)
    info = blobs.blob(path.account, path.container, path.path)
    if info is None:
        return None
    return _remote_file(path, url, info, dest or posixpath.basename(info.name))
