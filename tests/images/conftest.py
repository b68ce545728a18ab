"""Fixtures for image tests: a real registry on loopback, the fake ACR token service in front
of it, a debootstrapped Debian+python3 base image, and the engine under test: every test
that takes ``engine`` runs on podman and on docker, both started by the suite itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.fake_acr import FakeAcr
from tests.images.fake_arm import FakeArm, FakeArmState
from tests.images.local_registry import LocalRegistry, RegistryUnavailable, start_registry
from tests.support.engines import ENGINES, EngineUnderTest, use_engine

TENANT = "72f988bf-0000-4000-8000-00000000c0de"


def _registry(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[LocalRegistry]:
    try:
        registry = start_registry(tmp_path_factory.mktemp(name))
    except RegistryUnavailable as exc:
        pytest.fail(str(exc))
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on 127.0.0.1, no auth, storage in a temp dir."""
    yield from _registry(tmp_path_factory, "registry")


@pytest.fixture(scope="session")
def fake_acr(local_registry: LocalRegistry) -> Iterator[FakeAcr]:
    """The ACR token endpoints (fake) in front of the real registry (bearer tokens required)."""
    acr = FakeAcr(local_registry.host, tenant=TENANT).start()
    yield acr
    acr.stop()


@pytest.fixture(scope="session")
def hub_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A second real registry standing in for Docker Hub (no test reaches the internet)."""
    yield from _registry(tmp_path_factory, "hub")


@pytest.fixture
def fake_arm(
    fake_acr: FakeAcr,
    local_registry: LocalRegistry,
    hub_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FakeArm]:
    """ARM's importImage for the fake ACR's registry (https, test CA), copying from the
    stand-in Docker Hub into the registry behind the fake ACR; the runner is pointed at it
    with SUPERBATCH_ARM_ENDPOINT and trusts it through REQUESTS_CA_BUNDLE."""
    state = FakeArmState(
        target=local_registry.host,
        registry_name=fake_acr.login_server.split(".", 1)[0],
        tokens=fake_acr.state.entra_tokens,
        sources={"docker.io": hub_registry.host},
    )
    arm = FakeArm(state).start()
    monkeypatch.setenv("SUPERBATCH_ARM_ENDPOINT", arm.endpoint)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_bundle))
    yield arm
    arm.stop()


@pytest.fixture(scope="session")
def images_env(
    podman_env: dict[str, str],
    local_registry: LocalRegistry,
    fake_acr: FakeAcr,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """podman_env plus: both loopback registries allowed over plain http, and the engine's
    credential store (auth.json) in a temp dir of its own."""
    root = tmp_path_factory.mktemp("engine")
    conf = root / "registries.conf"
    conf.write_text(
        "unqualified-search-registries = []\n"
        + "".join(
            f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n'
            for host in (local_registry.host, fake_acr.login_server)
        )
    )
    env = dict(podman_env)
    env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    auth_file = root / "auth.json"
    auth_file.write_text('{"auths": {}}\n')  # podman push stats it when the variable is set
    env["REGISTRY_AUTH_FILE"] = str(auth_file)
    return env


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> EngineUnderTest:
    """podman, then docker (its daemon started once per session), both with the loopback
    registries allowed: in-process CLI commands and their engine subprocesses use it."""
    if request.param == "docker":
        request.getfixturevalue("local_registry")  # 127.0.0.0/8: docker allows plain http
    return use_engine(request, monkeypatch, podman_env="images_env")


@pytest.fixture
def base_image(engine: EngineUnderTest) -> str:
    """The busybox base image in the engine under test (same name in both)."""
    return engine.busybox()


@pytest.fixture
def python_base(engine: EngineUnderTest) -> str:
    """Debian bookworm minbase + python3 (debootstrap once, cached), in the engine under test."""
    from tests.images.base_image import (
        PYTHON_BASE_IMAGE,
        BaseImageUnavailable,
        python_base_image,
        python_rootfs,
    )

    try:
        if engine.name == "podman":
            return python_base_image(engine.env)
        return engine.import_rootfs(python_rootfs(), PYTHON_BASE_IMAGE, cmd="/bin/sh")
    except BaseImageUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def fake_az(tmp_path: Path, fake_acr: FakeAcr, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``az`` on PATH that answers ``az account get-access-token`` like the Azure CLI, with
    an Entra token the fake ACR accepts; DefaultAzureCredential is limited to the Azure CLI
    credential (AZURE_TOKEN_CREDENTIALS). The token is passed in the environment, never
    written to disk. Returns the token."""
    token = fake_acr.issue_entra_token()
    bin_dir = tmp_path / "fake-az-bin"
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "account get-access-token" ] || { echo "fake az: no $*" >&2; exit 2; }\n'
        "cat <<JSON\n"
        '{"accessToken": "$FAKE_ENTRA_TOKEN", "expires_on": 4102444800, "tokenType": "Bearer",'
        f' "tenant": "{TENANT}"}}\n'
        "JSON\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ENTRA_TOKEN", token)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    return token
