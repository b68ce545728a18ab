"""The lean reader: ``List Blobs`` and ``Get Blob`` on the putter's keep-alive connections.

Thousands of small results cost the storage SDK's pipeline (a downloader object, a dozen
policies per request, a generic XML deserializer for listings) several times the request
itself; on a 2-core laptop that CPU, not the network, bounds a download. This sends the
same requests the SDK would, through :meth:`~superbatch.azure.blob_put.BlobPutter.exchange`:
the same bearer token, connections and retry policy (reading a blob again is always safe),
and streams each answer into the file at fixed offsets through one reused buffer per thread.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import mmap
import os
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from superbatch.azure.blob_put import BlobPutter, lean_putter
from superbatch.errors import RemoteError

PAGE_SIZE = 5000  # List Blobs' maximum: the fewest round trips
BUFFER_BYTES = 1 << 20
PARSE_CHUNK_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class ListedBlob:
    """What a listing says about a blob, whichever client listed it."""

    name: str
    size: int
    etag: str  # without quotes
    last_modified: float  # epoch seconds
    content_md5: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def listed_from_sdk(item: Any) -> ListedBlob:
    """The storage SDK's ``BlobProperties`` as a :class:`ListedBlob`."""
    md5 = item.content_settings.content_md5 if item.content_settings else None
    return ListedBlob(
        name=item.name,
        size=int(item.size),
        etag=str(item.etag).strip('"'),
        last_modified=item.last_modified.timestamp(),
        content_md5=bytes(md5) if md5 else None,
        metadata=dict(item.metadata or {}),
    )


class BlobGetter(BlobPutter):
    """Reads blobs of one container from any number of threads."""

    def get(self, name: str) -> bytes:
        return self.request("GET", name, headers={}, ok=200, action="download")

    def copy(
        self,
        name: str,
        fd: int,
        *,
        offset: int = 0,
        start: int | None = None,
        length: int | None = None,
        etag: str | None = None,
    ) -> int:
        """Write the blob (or ``length`` bytes from ``start``, of the version ``etag``) into
        ``fd`` at ``offset``; the number of bytes written."""
        headers: dict[str, str] = {}
        if start is not None and length is not None:
            headers["x-ms-range"] = f"bytes={start}-{start + length - 1}"
        if etag is not None:
            headers["If-Match"] = f'"{etag}"'
        buffer: mmap.mmap | None = getattr(self._local, "buffer", None)
        if buffer is None:
            # Anonymous memory: a page costs only once written, so the 32 threads of a
            # download of small results hold a page each, not 32 MB of zeroed buffers.
            buffer = self._local.buffer = mmap.mmap(-1, BUFFER_BYTES)
        view = memoryview(buffer)

        def stream(response: http.client.HTTPResponse) -> int:
            written = 0
            while count := response.readinto(buffer):
                os.pwrite(fd, view[:count], offset + written)
                written += count
            return written

        try:
            return self.exchange(
                "GET",
                name,
                headers=headers,
                ok=200 if "x-ms-range" not in headers else 206,
                action="download",
                read=stream,
            )
        except RemoteError as exc:
            if etag is not None and "ConditionNotMet" in str(exc):
                raise RemoteError(f"{name} changed while it was downloaded: run again") from None
            raise

    def list(
        self, prefix: str, *, metadata: bool = False, page_size: int = PAGE_SIZE
    ) -> Iterator[ListedBlob]:
        """Every blob whose name starts with ``prefix``, a page (up to 5,000) at a time."""
        marker = ""
        while True:
            query = {"restype": "container", "comp": "list", "maxresults": str(page_size)}
            if prefix:
                query["prefix"] = prefix
            if metadata:
                query["include"] = "metadata"
            if marker:
                query["marker"] = marker
            body = self.request(
                "GET",
                "",
                headers={},
                ok=200,
                action=f"list {prefix}*",
                query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote),
            )
            marker = yield from _page(body)
            if not marker:
                return


def _page(body: bytes) -> Generator[ListedBlob, None, str]:
    """A List Blobs answer's blobs as it is parsed, each element emptied once read (a tree
    of a 5,000-blob page is some 14 MB); returns its ``NextMarker``."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    marker = ""
    depth = 0  # of the element an event is about: EnumerationResults 1, Blobs 2, Blob 3
    for offset in range(0, len(body), PARSE_CHUNK_BYTES):
        parser.feed(body[offset : offset + PARSE_CHUNK_BYTES])
        # "start" and "end" events carry elements
        events = cast("Iterator[tuple[str, ET.Element]]", parser.read_events())
        for event, element in events:
            if event == "start":
                depth += 1
                continue
            if depth == 3 and element.tag == "Blob":
                yield _listed(element)
                element.clear()
            elif depth == 2 and element.tag == "NextMarker":
                marker = element.text or ""
            depth -= 1
    parser.close()
    return marker


def _listed(blob: ET.Element) -> ListedBlob:
    name_element = blob.find("Name")
    name = name_element.text or "" if name_element is not None else ""
    if name_element is not None and name_element.get("Encoded") == "true":
        name = urllib.parse.unquote(name)  # names with characters XML cannot carry
    properties = blob.find("Properties")
    values = {child.tag: child.text or "" for child in properties} if properties is not None else {}
    md5 = values.get("Content-MD5")
    modified = email.utils.parsedate_to_datetime(values["Last-Modified"]).timestamp()
    meta = blob.find("Metadata")
    return ListedBlob(
        name=name,
        size=int(values.get("Content-Length") or 0),
        etag=values.get("Etag", "").strip('"'),
        last_modified=modified,
        content_md5=base64.b64decode(md5) if md5 else None,
        metadata={child.tag: child.text or "" for child in meta} if meta is not None else {},
    )


def lean_getter(container_url: str, credential: Any) -> BlobGetter | None:
    """A :class:`BlobGetter` where the lean putter applies (https, a token, no proxy)."""
    if lean_putter(container_url, credential) is None:
        return None
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return BlobGetter(container_url, credential, ca_bundle=ca_bundle)
