from __future__ import annotations

from azure.storage.blob import BlobServiceClient

from tests.support.azurite import Azurite


def test_azurite_round_trip(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("roundtrip")
    container.upload_blob("a/b.txt", b"hello")
    assert container.download_blob("a/b.txt").readall() == b"hello"
    assert [b.name for b in container.list_blobs()] == ["a/b.txt"]
