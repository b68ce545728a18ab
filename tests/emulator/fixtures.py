"""pytest fixtures for the Batch emulator (exposed to every test by tests/conftest.py).

``batch_emulator``: one emulator per test (start-up is a few milliseconds), with the session's
Azurite, plain http and SharedKey. ``batch_emulator_https``: the same over https (for token
credentials), with an https Azurite. See README.md for the object's API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator.server import BatchEmulator, start_emulator
from tests.support.azurite import Azurite, start_azurite


@pytest.fixture
def batch_emulator(azurite: Azurite) -> Iterator[BatchEmulator]:
    """A running Batch emulator (http, SharedKey) whose node reaches the session's Azurite.

    Its pool has no containerConfiguration (Batch runs such a pool's tasks on the host), so the
    emulator's own tests can run plain command lines; every other emulator starts with a
    container pool, like the stack's."""
    yield from serve_emulator(start_emulator(azurite=azurite, container=False))


@pytest.fixture(scope="session")
def azurite_https() -> Iterator[Azurite]:
    """An Azurite over https with bearer-token auth (``--oauth basic``), shared by the session."""
    server = start_azurite(https=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def batch_emulator_https(azurite_https: Azurite) -> Iterator[BatchEmulator]:
    """A Batch emulator over https (bearer tokens or SharedKey) using the https Azurite."""
    yield from serve_emulator(start_emulator(azurite=azurite_https, https=True))


def serve_emulator(emulator: BatchEmulator) -> Iterator[BatchEmulator]:
    """Fixture body: yield ``emulator``, stop it, then fail the test if the emulator itself
    failed (an exception inside the emulator is a bug in the emulator: say so in the test)."""
    try:
        yield emulator
    finally:
        stop_watchers()  # a watcher must never outlive its emulator: it would call a freed port
        emulator.stop()
    if emulator.bug_reports():
        pytest.fail("the Batch emulator itself failed:\n" + "\n".join(emulator.bug_reports()))


def stop_watchers() -> None:
    """Stop the background watchers (``run --detach``, ``wait``) this test's commands left
    leading a job: the watch dirs live beside this test's own job index (own_job_index)."""
    from superbatch.azure.watcher import stop_watcher
    from superbatch.jobindex import index_path

    root = index_path().parent / "watch"
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        stop_watcher(folder)
