"""Listing az:// names against Azurite: every page followed, the longest literal prefix sent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from superbatch.azure.blob_source import StorageBlobs, endpoint_for
from superbatch.errors import ConfigError, SpecError
from superbatch.remote import literal_prefix, matching_blobs, parse_az


class CountingBlobs(StorageBlobs):
    """The real lister, recording the prefixes it asks the server for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefixes: list[str] = []

    def list_blobs(self, account: str, container: str, prefix: str) -> Any:
        self.prefixes.append(prefix)
        return super().list_blobs(account, container, prefix)


def test_every_page_is_followed_and_only_the_glob_matches(inputs_container: Any) -> None:
    names = [f"runs/2024-{i % 12 + 1:02d}/{i:04d}.csv" for i in range(1000)]
    names += ["runs/2024-01/.hidden.csv", "runs/2024-01/notes.txt", "other/0001.csv"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: inputs_container.upload_blob(n, b"x"), names))
    account, container = "devstoreaccount1", inputs_container.container_name
    blobs = CountingBlobs(
        inputs_container.credential,
        containers={f"{account}/{container}": inputs_container.url},
        page_size=100,  # ten pages for a thousand blobs
    )
    found = matching_blobs(
        parse_az(f"az://{account}/{container}/runs/2024-*/*.csv", where="t"), blobs
    )
    assert [f.dest for f in found] == sorted(n for n in names[:1000])
    assert blobs.prefixes == ["runs/2024-"]
    assert all(f.url == f"{inputs_container.url}/{f.dest}" and f.etag for f in found)


def test_an_exact_name_is_one_blob_never_its_longer_neighbours(inputs_container: Any) -> None:
    for name in ("d/a.csv", "d/a.csv.bak", "d/a.csvx"):
        inputs_container.upload_blob(name, b"x")
    account, container = "devstoreaccount1", inputs_container.container_name
    blobs = StorageBlobs(
        inputs_container.credential, containers={f"{account}/{container}": inputs_container.url}
    )
    found = matching_blobs(parse_az(f"az://{account}/{container}/d/a.csv", where="t"), blobs)
    assert [f.dest for f in found] == ["d/a.csv"]
    with pytest.raises(ConfigError, match="dataContainers"):
        blobs.container_url(account, "undeclared")


def test_names_are_checked_before_anything_is_asked() -> None:
    for bad in ("az://UPPER/c/x", "az://acct/c/x", "az://acct/ok-container", "az://acct/con/../x"):
        with pytest.raises(SpecError):
            parse_az(bad, where="t")
    assert literal_prefix("a/b*/c?.csv") == "a/b"
    assert endpoint_for("acct", {}) == "https://acct.blob.core.windows.net"
    assert endpoint_for("acct", {"SUPERBATCH_BLOB_ENDPOINT": "https://h:1/{account}/"}) == (
        "https://h:1/acct"
    )
    with pytest.raises(ConfigError):
        endpoint_for("acct", {"SUPERBATCH_BLOB_ENDPOINT": "https://h:1/"})
