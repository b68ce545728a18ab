"""The lean reader for small blobs: ``Get Blob`` on the putter's keep-alive connections.

Thousands of small results cost the storage SDK's pipeline (a downloader object, a dozen
policies per request) several times the request itself. This sends the same request the SDK
would, through :meth:`~superbatch.azure.blob_put.BlobPutter.request`: the same bearer token,
connections and retry policy (reading a blob again is always safe).
"""

from __future__ import annotations

import os
from typing import Any

from superbatch.azure.blob_put import BlobPutter, lean_putter


class BlobGetter(BlobPutter):
    """``get(name)`` -> the blob's bytes, from any number of threads."""

    def get(self, name: str) -> bytes:
        return self.request("GET", name, headers={}, ok=200, action="download")


def lean_getter(container_url: str, credential: Any) -> BlobGetter | None:
    """A :class:`BlobGetter` where the lean putter applies (https, a token, no proxy)."""
    if lean_putter(container_url, credential) is None:
        return None
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return BlobGetter(container_url, credential, ca_bundle=ca_bundle)
