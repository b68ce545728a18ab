"""Shared fixtures. Parts the tests need (Azurite, podman...) are installed and started here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator.fixtures import azurite_https, batch_emulator, batch_emulator_https  # noqa: F401
from tests.support.azurite import Azurite, start_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running in-memory Azurite blob service on 127.0.0.1 (shared by the session)."""
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def podman_env() -> dict[str, str]:
    """Environment under which plain ``podman`` works here; fails (never skips) without it."""
    from tests.support.podman import PodmanUnavailable, podman_env

    try:
        return podman_env()
    except PodmanUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def busybox_image(podman_env: dict[str, str]) -> str:
    from tests.support.podman import busybox_image

    return busybox_image(podman_env)
