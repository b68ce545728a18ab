"""The node's view of blob storage: resource files in, output files out (Azurite here).

On Azure a node reaches storage as the pool's user-assigned managed identity named in each
``identityReference``. Here the identity is checked against the pool's identities and then
the node talks to Azurite with its development account, which is what that identity's RBAC
role would grant. An unknown identity fails as an access failure, like a node that cannot get
a token for it. Failures come back as Batch's ``failureInfo`` (category, code, message).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.emulator import casing

if TYPE_CHECKING:
    from tests.support.azurite import Azurite


class NodeFileError(Exception):
    """A resource-file or output-file failure, as Batch's failureInfo."""

    def __init__(self, code: str, message: str, category: str = casing.USER_ERROR) -> None:
        super().__init__(message)
        self.info = {"category": category, "code": code, "message": message}


@dataclass
class StorageAccess:
    azurite: Azurite | None

    def _container(self, url: str, identity: dict[str, Any] | None, identities: list[str]) -> Any:
        from azure.storage.blob import ContainerClient

        kwargs: dict[str, Any] = {}
        if self.azurite is not None:
            kwargs = self.azurite.blob_client_kwargs()
        if urllib.parse.urlparse(url).query:  # a SAS URL carries its own authorization
            return ContainerClient.from_container_url(url, **kwargs)
        resource_id = (identity or {}).get("resourceId")
        if resource_id is None:
            return ContainerClient.from_container_url(url, **kwargs)  # anonymous
        if resource_id not in identities:
            raise NodeFileError(
                "BlobAccessDenied",
                f"The identity {resource_id} is not assigned to the pool: no token for it.",
            )
        if self.azurite is None:
            raise NodeFileError("BlobAccessDenied", "the emulator was started without Azurite")
        return ContainerClient.from_container_url(url, credential=self.azurite.credential, **kwargs)

    def download(self, resource: dict[str, Any], working_dir: Path, identities: list[str]) -> None:
        from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

        file_path = resource.get("filePath") or ""
        try:
            if resource.get("httpUrl"):
                self._download_url(resource, working_dir / file_path, identities)
                return
            url = resource["storageContainerUrl"]
            container = self._container(url, resource.get("identityReference"), identities)
            prefix = resource.get("blobPrefix")
            for blob in container.list_blobs(name_starts_with=prefix):
                # the full blob name is kept under filePath, as Batch does
                target = working_dir / file_path / blob.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(container.download_blob(blob.name).readall())
                _apply_mode(target, resource)
        except ResourceNotFoundError as error:
            raise NodeFileError(
                "BlobNotFound", f"One of the specified Azure Blob(s) is not found: {error.reason}"
            ) from None
        except HttpResponseError as error:
            code = (
                "BlobAccessDenied" if error.status_code in (401, 403) else "BlobDownloadMiscError"
            )
            category = casing.USER_ERROR if code == "BlobAccessDenied" else casing.SERVER_ERROR
            raise NodeFileError(code, f"{error.status_code} {error.reason}", category) from None
        except AzureError as error:  # storage unreachable
            raise NodeFileError("BlobDownloadMiscError", str(error), casing.SERVER_ERROR) from None

    def _download_url(self, resource: dict[str, Any], target: Path, identities: list[str]) -> None:
        url = resource["httpUrl"]
        target.parent.mkdir(parents=True, exist_ok=True)
        endpoint = self.azurite.blob_endpoint + "/" if self.azurite else None
        if endpoint and url.startswith(endpoint):
            container_name, _, blob_name = url.removeprefix(endpoint).partition("/")
            container = self._container(
                endpoint + container_name, resource.get("identityReference"), identities
            )
            target.write_bytes(container.download_blob(urllib.parse.unquote(blob_name)).readall())
        else:
            try:
                with urllib.request.urlopen(url, timeout=30) as answer:
                    target.write_bytes(answer.read())
            except urllib.error.HTTPError as error:
                codes = {404: "BlobNotFound", 401: "BlobAccessDenied", 403: "BlobAccessDenied"}
                code = codes.get(error.code, "BlobDownloadMiscError")
                raise NodeFileError(code, f"{error.code} downloading {url}") from None
        _apply_mode(target, resource)

    def upload(
        self, output: dict[str, Any], working_dir: Path, identities: list[str], log: list[str]
    ) -> None:
        """Upload the files matching one outputFiles entry; raise NodeFileError on failure."""
        from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

        destination = output["destination"]["container"]
        pattern = output["filePattern"]
        matches = match_pattern(working_dir, pattern)
        try:
            container = self._container(
                destination["containerUrl"], destination.get("identityReference"), identities
            )
            for path, relative in matches:
                prefix = destination.get("path")
                if has_wildcard(pattern):
                    name = f"{prefix.rstrip('/')}/{relative}" if prefix else relative
                else:
                    name = prefix or path.name
                with path.open("rb") as data:
                    container.upload_blob(name, data, overwrite=True)
                log.append(f"Uploaded {path} to {name}")
        except ResourceNotFoundError as error:
            raise NodeFileError(
                "FileUploadContainerNotFound",
                f"The container {destination['containerUrl']} does not exist: {error.reason}",
            ) from None
        except HttpResponseError as error:
            code = (
                "FileUploadAuthenticationFailed"
                if error.status_code in (401, 403)
                else "FileUploadMiscError"
            )
            raise NodeFileError(code, f"{error.status_code} {error.reason}") from None
        except AzureError as error:  # storage unreachable
            raise NodeFileError("FileUploadMiscError", str(error)) from None
        except NodeFileError as error:
            raise NodeFileError("FileUploadAuthenticationFailed", str(error)) from None


def has_wildcard(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def match_pattern(working_dir: Path, pattern: str) -> list[tuple[Path, str]]:
    """Files matching an output pattern: (path, path relative to the pattern's fixed base).

    Relative patterns start at the working directory (``../stdout.txt`` reaches the task dir);
    ``*``, ``?`` and ``[..]`` stay within a path segment, ``**`` spans segments (zero or
    more), and files or folders starting with a dot match only when the pattern names the
    dot explicitly.
    """
    full = pattern if pattern.startswith("/") else os.path.normpath(working_dir / pattern)
    parts = Path(full).parts
    first_wild = next((i for i, part in enumerate(parts) if has_wildcard(part)), len(parts))
    base = Path(*parts[:first_wild])
    rest = parts[first_wild:]
    if not rest:
        return [(base, base.name)] if base.is_file() else []
    regex = _pattern_regex(rest)
    found = []
    if base.is_dir():
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base).as_posix()
            if path.is_file() and regex.match(relative) and _dots_ok(relative, rest):
                found.append((path, relative))
    return found


def _pattern_regex(parts: tuple[str, ...]) -> re.Pattern[str]:
    text = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            text += ".*" if last else "(?:.*/)?"
        else:
            text += _segment_regex(part) + ("" if last else "/")
    return re.compile(f"^{text}$")


def _segment_regex(segment: str) -> str:
    out, i = "", 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and "]" in segment[i + 1 :]:
            end = segment.index("]", i + 1)
            inner = segment[i + 1 : end]
            out += "[" + ("^" + inner[1:] if inner.startswith("!") else inner) + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return out


def _dots_ok(relative: str, pattern_parts: tuple[str, ...]) -> bool:
    explicit_dot = any(p.startswith(".") for p in pattern_parts)
    return explicit_dot or not any(part.startswith(".") for part in relative.split("/"))


def _apply_mode(target: Path, resource: dict[str, Any]) -> None:
    mode = resource.get("fileMode")
    if mode:
        target.chmod(int(mode, 8))
