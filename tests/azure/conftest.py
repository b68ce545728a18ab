"""Fixtures for the Azure backend tests: real Azurite (and the Batch emulator once on main)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from superbatch.contract import StackOutputs
from tests.images.conftest import fake_acr, fake_arm, hub_registry, local_registry  # noqa: F401
from tests.images.fake_acr import FakeAcr
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


# No registry runs for the plain stack: images in tests name their registry in full (and
# are not checked); `acr_stack` has one.
NO_REGISTRY = "registry.invalid"


@dataclass
class EmulatedStack:
    """The emulator + https Azurite seen as a deployed stack: an outputs file and its parts."""

    outputs_file: Path
    outputs: StackOutputs
    emulator: Any
    azurite: Azurite

    def container(self, name: str) -> Any:
        """Test-side view of a container (dev key: inspection only, never the code under test)."""
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            self.azurite.connection_string, **self.azurite.blob_client_kwargs()
        )
        return service.get_container_client(name)

    def backend(self, **kwargs: Any) -> Any:
        from superbatch.azure.backend import AzureBatchBackend

        return AzureBatchBackend.from_outputs_file(self.outputs_file, **kwargs)


def write_stack(
    tmp_path: Path,
    emulator: Any,
    azurite: Azurite,
    *,
    registry: str = NO_REGISTRY,
    pools: dict[str, dict[str, Any]] | None = None,
) -> EmulatedStack:
    """Create the stack's containers (what `pulumi up` does) and write its outputs file."""
    from azure.storage.blob import BlobServiceClient

    suffix = uuid.uuid4().hex[:8]
    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, **azurite.blob_client_kwargs()
    )
    names = {"inputs": f"inputs-{suffix}", "outputs": f"outputs-{suffix}"}
    for name in names.values():
        service.create_container(name)
    values: dict[str, Any] = {
        "batch_account_endpoint": emulator.url,
        "batch_account_name": emulator.account_name,
        "pool_id": emulator.pool_id,
        "storage_account_name": "devstoreaccount1",
        "blob_endpoint": azurite.blob_endpoint + "/",
        "inputs_container": names["inputs"],
        "inputs_container_url": f"{azurite.blob_endpoint}/{names['inputs']}",
        "outputs_container": names["outputs"],
        "outputs_container_url": f"{azurite.blob_endpoint}/{names['outputs']}",
        "registry_login_server": registry,
        "node_identity_resource_id": emulator.identity_resource_id,
        "node_identity_client_id": "00000000-0000-0000-0000-00000000c1d0",
        "resource_group": "rg-emulated",
        "location": "loopback",
    }
    if pools is not None:  # the `pools` output of a stack with several pools
        values["pools"] = pools
    path = tmp_path / "stack-outputs.json"
    path.write_text(json.dumps(values, indent=2))
    return EmulatedStack(
        path, StackOutputs.from_mapping(values, source=str(path)), emulator, azurite
    )


EMULATOR_MISSING = (
    "the Batch emulator (tests/emulator, fixtures batch_emulator_https / azurite_https) is "
    "not in this checkout: merge main once the emulator branch has landed"
)


def _emulator_fixture(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.fail(EMULATOR_MISSING)


@pytest.fixture
def stack(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fake_az_login: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> EmulatedStack:
    """A stack on loopback reached exactly like Azure: https, Entra tokens from the real
    DefaultAzureCredential chain (fake ``az`` on PATH), the test CA via REQUESTS_CA_BUNDLE."""
    batch_emulator_https = _emulator_fixture(request, "batch_emulator_https")
    azurite_https = _emulator_fixture(request, "azurite_https")
    assert batch_emulator_https.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(batch_emulator_https.ca_bundle))
    return write_stack(tmp_path, batch_emulator_https, azurite_https)


@pytest.fixture
def wide_stack(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fake_az_login: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[EmulatedStack]:
    """Like ``stack`` with a 64-slot node, for jobs of thousands of no-op tasks."""
    azurite_https = _emulator_fixture(request, "azurite_https")
    try:
        from tests.emulator.server import start_emulator
    except ImportError:
        pytest.fail(EMULATOR_MISSING)

    emulator = start_emulator(azurite=azurite_https, https=True, slots=64)
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
        yield write_stack(tmp_path, emulator, azurite_https)
    finally:
        emulator.stop()


class AcrTokens:
    """The stack's credential (fake ``az``) plus Entra tokens for the registry audience that
    the fake ACR accepts (it only knows tokens it issued itself)."""

    def __init__(self, acr: FakeAcr) -> None:
        from azure.identity import DefaultAzureCredential

        self._acr = acr
        self._inner = DefaultAzureCredential()

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        if any(scope.startswith("https://containerregistry.azure.net") for scope in scopes):
            return AccessToken(self._acr.issue_entra_token(), int(time.time()) + 3600)
        return self._inner.get_token(*scopes, **kwargs)


@dataclass
class AcrStack:
    stack: EmulatedStack
    acr: FakeAcr
    upstream: str  # the plain registry behind the fake ACR ("127.0.0.1:PORT")

    def backend(self) -> Any:
        return self.stack.backend(credential=AcrTokens(self.acr))


@pytest.fixture
def acr_stack(
    tmp_path: Path,
    stack: EmulatedStack,
    fake_acr: FakeAcr,  # noqa: F811 (the fixture imported above)
    local_registry: Any,  # noqa: F811
) -> AcrStack:
    """``stack`` whose registry is the fake ACR (Entra token exchange, bearer tokens) in front
    of a real registry."""
    root = tmp_path / "acr-stack"
    root.mkdir()
    with_acr = write_stack(root, stack.emulator, stack.azurite, registry=fake_acr.login_server)
    return AcrStack(with_acr, fake_acr, local_registry.host)


@pytest.fixture
def pool_stack(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fake_az_login: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """``pool_stack(PoolSpec(...))``: a stack whose pool is the given emulated pool (its
    formula, quotas, node start time), driven by ``stack.emulator.clock``."""
    azurite_https = _emulator_fixture(request, "azurite_https")
    from tests.emulator.fixtures import serve_emulator
    from tests.emulator.server import start_emulator

    started: list[Iterator[Any]] = []

    def make(spec: Any, **options: Any) -> EmulatedStack:
        serving = serve_emulator(start_emulator(azurite=azurite_https, https=True, pool=spec))
        emulator = next(serving)
        started.append(serving)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
        return write_stack(tmp_path, emulator, azurite_https, **options)

    yield make
    for serving in started:
        next(serving, None)  # stops it; fails the test if the emulator itself failed


def timings_shape(timings_json: bytes) -> list[tuple[str, str, str, int]]:
    """What must match across backends in ``timings.json``: task, label, state, attempts."""
    data = json.loads(timings_json)
    return [(t["task"], t["label"], t["state"], len(t["attempts"])) for t in data["tasks"]]


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    """Background watchers this test's commands started (``run --detach``, ``wait``) end
    with their job; one whose job the test left running is stopped here. (The emulator's
    fixtures stop them first, before the emulator goes: tests/emulator/fixtures.py.)"""
    from tests.emulator.fixtures import stop_watchers

    yield
    stop_watchers()
