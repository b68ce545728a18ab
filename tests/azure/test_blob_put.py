"""The lean blob uploader speaks the storage service version the SDK speaks."""

from __future__ import annotations

from azure.storage.blob import ContainerClient

from superbatch.azure.blob_put import SERVICE_VERSION


def test_lean_uploader_sends_the_sdks_service_version() -> None:
    """Updating azure-storage-blob moves its x-ms-version; the uploader must move with it."""
    sdk = ContainerClient.from_container_url("https://account.blob.core.windows.net/inputs")
    assert sdk.api_version == SERVICE_VERSION, (
        f"set superbatch.azure.blob_put.SERVICE_VERSION to {sdk.api_version!r} "
        "(the version azure-storage-blob sends)"
    )
