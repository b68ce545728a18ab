"""Fixtures for the Azure backend tests: real Azurite (and the Batch emulator once on main)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.azurite import Azurite


@pytest.fixture
def inputs_container(azurite: Azurite) -> Iterator[Any]:
    """A fresh container in the session's Azurite, reached with the emulator's public dev key.

    The dev key is only the test's way in until https Azurite with OAuth lands; the code under
    test takes any ContainerClient and never sees how it authenticates.
    """
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"inputs-{uuid.uuid4().hex[:12]}")
    try:
        yield container
    finally:
        container.delete_container()


@pytest.fixture
def fake_az_login(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """``az`` on PATH answering like a logged-in Azure CLI; the chain narrowed to it.

    ``AZURE_TOKEN_CREDENTIALS=AzureCliCredential`` is azure-identity's own switch (1.27):
    DefaultAzureCredential then tries only the CLI credential, so no test ever reaches
    IMDS (169.254.169.254) or any other non-loopback address.
    """
    from tests.azure.fake_az import install_fake_az

    bin_dir = tmp_path_factory.mktemp("fake-az-bin")
    install_fake_az(bin_dir)
    log = bin_dir / "calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("FAKE_AZ_LOG", str(log))
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    return log
