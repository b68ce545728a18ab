"""Shared fixtures. Parts the tests need (Azurite, podman...) are installed and started here."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.emulator.fixtures import azurite_https, batch_emulator, batch_emulator_https  # noqa: F401
from tests.support.azurite import Azurite, start_azurite
from tests.support.docker import Dockerd
from tests.support.engines import ENGINES, EngineUnderTest, use_engine

# No timing in tests: Hypothesis' default 200 ms deadline per example is a timed assertion
# that a loaded CI machine fails at random (seen: a settings property test under load).
settings.register_profile("superbatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("superbatch")


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_reaches_the_tests() -> Iterator[None]:
    """Ctrl-C behaves as in a terminal, for the tests and the commands they start.

    A shell that starts the suite in the background (``.ci/run &`` in a script) makes it
    ignore SIGINT, and an ignored signal stays ignored across exec: the Ctrl-C tests would
    then interrupt nothing. Python's own handler here makes every child start with the
    default (and so its own KeyboardInterrupt handler); what was there is put back after.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def own_job_index(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test (and every command it starts) gets its own per-user job index, so tests
    never read or grow the index of whoever runs the suite."""
    index = tmp_path_factory.mktemp("job-index") / "jobs.jsonl"
    monkeypatch.setenv("SUPERBATCH_INDEX", str(index))


@pytest.fixture(autouse=True)
def batch_answers_come_from_batch(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every answer any Batch client gets, in this process or a command it starts, should
    come from a Batch stand-in (the emulator). One that did not is a warning in the summary.
    The warning names the request, its socket and who listens at the far end
    (tests/support/batch_guard.py). So is a proxy's pump finding its socket number reused
    by another connection (tests/support/relay.py, which also explains the one crossing
    seen). The test itself stands or falls on what the runner then did."""
    from tests.support import batch_guard

    log = tmp_path_factory.mktemp("batch-guard") / "crossed.log"
    monkeypatch.setenv(batch_guard.LOG_ENV, str(log))
    path = [str(batch_guard.SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    batch_guard.install_on_import()
    yield
    import warnings

    from tests.support import relay

    crossed = log.read_text().splitlines() if log.exists() else []
    stolen, relay.STOLEN[:] = list(relay.STOLEN), []  # pumps that stopped instead of relaying
    for line in [*crossed, *stolen]:
        warnings.warn(batch_guard.CrossedWarning(line), stacklevel=1)


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


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A private dockerd for the session (started once, a few seconds); fails (never skips)
    without docker.io."""
    from tests.support.docker import DockerUnavailable, start_dockerd

    try:
        daemon = start_dockerd(tmp_path_factory.mktemp("dockerd"))
    except DockerUnavailable as exc:
        pytest.fail(str(exc))
    yield daemon
    daemon.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> EngineUnderTest:
    """podman (the suite's own store), then docker (the session's private dockerd): in-process
    CLI commands and their engine subprocesses use it. tests/images has its own, with the
    loopback registries allowed."""
    return use_engine(request, monkeypatch, podman_env="podman_env")


# Parts that must not run twice at once on one machine: under pytest-xdist (scripts/test runs
# `-n 2 --dist loadgroup`) every test using one is sent to the same worker. A private
# dockerd per worker would fight over the host's bridge and iptables rules.
def _uses_dockerd(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    # the `engine` fixtures ask for dockerd themselves when it is "docker"
    return "dockerd" in getattr(item, "fixturenames", ()) or params.get("engine") == "docker"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_dockerd(item):
            item.add_marker(pytest.mark.xdist_group("docker"))
