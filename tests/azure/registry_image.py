"""Put a tiny image (one empty layer) into a plain registry through the Registry HTTP API.

Enough for the pre-submit check, which only asks the registry for the manifest: no engine,
no pull. The registry is the real one the images tests run (Debian's docker-registry).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.parse
import urllib.request

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(host: str, repository: str, data: bytes) -> str:
    """Upload ``data`` as a blob of ``repository`` (monolithic: POST, then PUT ?digest=)."""
    digest = _digest(data)
    start = urllib.request.Request(
        f"http://{host}/v2/{repository}/blobs/uploads/", method="POST", data=b""
    )
    with urllib.request.urlopen(start, timeout=30) as answer:
        location = urllib.parse.urljoin(f"http://{host}/", answer.headers["Location"])
    joiner = "&" if "?" in location else "?"
    put = urllib.request.Request(
        f"{location}{joiner}digest={urllib.parse.quote(digest)}",
        method="PUT",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(put, timeout=30).close()
    return digest


def push_tiny_image(host: str, repository: str, tag: str) -> str:
    """Push ``host/repository:tag``; returns the manifest digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    layer = gzip.compress(buffer.getvalue(), mtime=0)
    diff_id = _digest(buffer.getvalue())
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": put_blob(host, repository, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": put_blob(host, repository, layer),
                }
            ],
        }
    ).encode()
    put = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}",
        method="PUT",
        data=manifest,
        headers={"Content-Type": MANIFEST},
    )
    urllib.request.urlopen(put, timeout=30).close()
    return _digest(manifest)
