"""``--local``'s cache of ``az://`` blobs, shared by jobs and released by ``clean``.

Each blob is downloaded once into ``<home>/blobs/<key>`` (the key names its URL and ETag)
and hard-linked into the job's own ``<home>/jobs/<job>/blobs/<key>``, which is what the
job's tasks stage. The file system counts the references: ``clean`` removes the job's
folder, then each of its cache entries that nothing else links (a link count of 1). A job
that links the same blob at that moment keeps its bytes (a link outlives the cache's
name), and a cache name removed under a job that was about to link it is fetched again.
Where hard links are impossible the job names the cache entry itself, and ``clean`` spares
every entry whose key another job's state names.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

BLOBS_DIR = "blobs"


def link_into(
    paths: dict[str, Path], folder: Path, fetch: Callable[[list[str]], dict[str, Path]]
) -> dict[str, Path]:
    """URL -> cache entry, as URL -> the job's own link in ``folder`` (``fetch`` brings
    back entries removed meanwhile)."""
    folder.mkdir(parents=True, exist_ok=True)
    linked: dict[str, Path] = {}
    for attempt in range(2):
        gone: list[str] = []
        for url, cached in paths.items():
            mine = folder / cached.name
            try:
                os.link(cached, mine)
            except FileExistsError:
                pass
            except FileNotFoundError:
                gone.append(url)  # cleaned by another job since it was fetched
                continue
            except OSError:
                mine = cached  # no hard links here: share the cache entry
            linked[url] = mine
        if not gone:
            break
        if attempt:
            raise OSError(f"the blob cache keeps losing {gone[0]}: run again")
        paths = fetch(gone)
    return linked


def release(cache: Path, keys: Iterable[str], others: Iterable[Path]) -> None:
    """Remove cache entries ``keys`` (of a job already removed) that nothing else uses."""
    keys = set(keys)
    if not keys or not cache.is_dir():
        return
    named = ""
    for job_file in others:  # jobs that share the cache entry without a link
        with contextlib.suppress(OSError):
            named += job_file.read_text(encoding="utf-8")
    for key in keys:
        entry = cache / key
        try:
            if entry.stat().st_nlink > 1 or key in named:
                continue
            entry.unlink()
        except FileNotFoundError:
            continue
    with contextlib.suppress(OSError):
        cache.rmdir()  # only when empty


def job_keys(job_dir: Path, inputs: Iterable[Path], cache: Path) -> set[str]:
    """The cache keys a job uses: its links, and cache entries it names directly."""
    keys = {p.name for p in (job_dir / BLOBS_DIR).glob("*")} if job_dir.is_dir() else set()
    keys |= {p.name for p in inputs if p.parent == cache}
    return keys
