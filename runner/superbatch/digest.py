"""Hashing files: the one streaming helper (``hashlib.file_digest``, no Python read loop)."""

from __future__ import annotations

import hashlib
import os
from typing import Any


def new_hasher(algorithm: str) -> Any:
    # MD5 only checks that a download matches the blob's Content-MD5; it protects nothing.
    return hashlib.md5(usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)


def file_hash(path: str | os.PathLike[str], algorithm: str = "sha256") -> tuple[bytes, int]:
    """The digest of the file at ``path`` and the number of bytes it was taken over."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, lambda: new_hasher(algorithm))
        size = handle.tell()
    return digest.digest(), size


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's sha256 as 64 hex digits."""
    return file_hash(path)[0].hex()
