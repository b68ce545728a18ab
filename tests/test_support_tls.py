"""Azurite over https (fixture ``azurite_https``, shared by the session: tests/conftest.py)."""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient

from tests.support.azurite import Azurite
from tests.support.tokens import FakeTokenCredential


def test_azurite_over_https_accepts_a_bearer_token(azurite_https: Azurite) -> None:
    credential = FakeTokenCredential()
    service = BlobServiceClient(
        azurite_https.blob_endpoint, credential=credential, **azurite_https.blob_client_kwargs()
    )
    container = service.create_container("tokens")
    container.upload_blob("x.txt", b"over tls")
    assert container.download_blob("x.txt").readall() == b"over tls"
    assert credential.scopes[0] == "https://storage.azure.com/.default"


def test_azurite_over_https_still_takes_the_dev_key(azurite_https: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(
        azurite_https.connection_string, **azurite_https.blob_client_kwargs()
    )
    service.create_container("keyed").upload_blob("y.txt", b"key")
    assert service.get_container_client("keyed").download_blob("y.txt").readall() == b"key"
