"""The lean reader for small blobs: ``Get Blob`` on the putter's keep-alive connections.

Thousands of small results cost the storage SDK's pipeline (a downloader object, a dozen
policies per request) several times the request itself. This sends the same request the SDK
would, with the same bearer token, connections and retry rules as
:class:`~superbatch.azure.blob_put.BlobPutter` (reading a blob again is always safe).
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
from email.utils import formatdate
from typing import Any

from superbatch.azure.blob_put import (
    _RETRY_STATUSES,
    SERVICE_VERSION,
    BlobPutter,
    _put_error,
    lean_putter,
)
from superbatch.azure.errors import unreachable_message
from superbatch.azure.retry import Deadline, retry_after
from superbatch.errors import RemoteError


class BlobGetter(BlobPutter):
    """``get(name)`` -> the blob's bytes, from any number of threads."""

    def get(self, name: str) -> bytes:
        """GET one blob, retried by the storage policy's bounds (azure/retry.py)."""
        path = f"{self._path}/{urllib.parse.quote(name, safe='~/')}"
        refreshed = False
        deadline = Deadline()
        while True:
            headers = {
                "Authorization": self._bearer(),
                "x-ms-version": SERVICE_VERSION,
                "x-ms-date": formatdate(usegmt=True),
            }
            try:
                connection = self._connection()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if not deadline.retry():
                    message = unreachable_message(exc, action=f"download {name}", service="storage")
                    raise RemoteError(message) from exc
                continue
            if response.status == 200:
                return body
            if response.status == 401 and not refreshed:
                refreshed = True
                self._bearer(refresh=True)
                continue
            asked = retry_after(dict(response.getheaders()))
            if response.status in _RETRY_STATUSES and deadline.retry(asked):
                continue
            error = _put_error(name, response.status, response.getheader("x-ms-error-code"), body)
            raise type(error)(str(error).replace("upload", "download", 1))


def lean_getter(container_url: str, credential: Any) -> BlobGetter | None:
    """A :class:`BlobGetter` where the lean putter applies (https, a token, no proxy)."""
    if lean_putter(container_url, credential) is None:
        return None
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return BlobGetter(container_url, credential, ca_bundle=ca_bundle)
