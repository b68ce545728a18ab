"""``--local``'s blob cache: links count the jobs that use an entry (real files, no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

from superbatch.local.blobcache import link_into, release


def _cache(tmp_path: Path, *keys: str) -> Path:
    cache = tmp_path / "blobs"
    cache.mkdir()
    for key in keys:
        (cache / key).write_text(key)
    return cache


def test_an_entry_another_job_links_or_names_is_kept(tmp_path: Path) -> None:
    cache = _cache(tmp_path, "linked", "named", "alone")
    os.link(cache / "linked", tmp_path / "other-job-link")
    other = tmp_path / "other-job.json"
    other.write_text(f'{{"source": "{cache / "named"}"}}')

    release(cache, ["linked", "named", "alone"], [other])

    assert sorted(p.name for p in cache.iterdir()) == ["linked", "named"]


def test_the_last_release_removes_the_cache_folder(tmp_path: Path) -> None:
    cache = _cache(tmp_path, "a")
    release(cache, ["a"], [])
    assert not cache.exists()


def test_an_entry_cleaned_before_it_was_linked_is_fetched_again(tmp_path: Path) -> None:
    cache = _cache(tmp_path, "k")
    fetched: list[list[str]] = []

    def fetch(urls: list[str]) -> dict[str, Path]:
        fetched.append(urls)
        (cache / "k").write_text("again")
        return {url: cache / "k" for url in urls}

    (cache / "k").unlink()  # another job's clean, between this job's fetch and its link
    linked = link_into({"az://a/c/k": cache / "k"}, tmp_path / "job" / "blobs", fetch)

    assert fetched == [["az://a/c/k"]]
    assert linked["az://a/c/k"].read_text() == "again"
    assert linked["az://a/c/k"].stat().st_nlink == 2
