"""Container-pool rules, image pulls, ENTRYPOINT, node and allocation failures, and both
answers to the unverified ``terminatejob`` switch after completion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.batch import models as m

from tests.emulator import casing
from tests.emulator.fixtures import serve_emulator
from tests.emulator.helpers import executed, failure_code, new_job, run_one_task, wait_for_tasks
from tests.emulator.pool_state import PoolInjections
from tests.emulator.pools import PoolSpec
from tests.emulator.server import BatchEmulator, start_emulator
from tests.support.azurite import Azurite
from tests.support.entrypoint_image import ENTRYPOINT_MARKER, entrypoint_image

BUSYBOX = "docker.io/library/busybox:1.36"


@pytest.fixture
def container_pool(azurite: Azurite) -> Iterator[BatchEmulator]:
    yield from serve_emulator(start_emulator(azurite=azurite))  # the stack's shape


def _task(command: str, image: str | None = BUSYBOX, options: str | None = None) -> Any:
    settings = (
        m.BatchTaskContainerSettings(image_name=image, container_run_options=options)
        if image
        else None
    )
    return m.BatchTaskCreateOptions(id="t", command_line=command, container_settings=settings)


def test_a_task_without_container_settings_fails_on_a_container_pool(
    container_pool: BatchEmulator,
) -> None:
    assert "containerConfiguration" in container_pool.pool_wire()["virtualMachineConfiguration"]
    task = run_one_task(container_pool, container_pool.client(), _task("true", image=None))
    info = executed(task)
    assert info.result == m.BatchTaskExecutionResult.FAILURE and info.exit_code is None
    assert info.failure_info is not None
    assert info.failure_info.code == "ContainerTaskSettingsNotFound"
    assert (
        info.failure_info.message
        == "Container-enabled compute node requires task container settings"
    )
    assert container_pool.tasks("job-1")[0]["executionInfo"]["failureInfo"]["category"] == (
        casing.USER_ERROR
    )


def test_the_same_task_with_an_image_runs(container_pool: BatchEmulator) -> None:
    task = run_one_task(container_pool, container_pool.client(), _task("true"))
    assert executed(task).exit_code == 0


def test_an_image_that_cannot_be_pulled_fails_the_task(container_pool: BatchEmulator) -> None:
    with container_pool.account.lock:
        container_pool.pool().inject.unpullable.add(BUSYBOX)
    task = run_one_task(container_pool, container_pool.client(), _task("true"))
    assert failure_code(task) == "ContainerInvalidImage"
    assert executed(task).exit_code is None


def test_podman_really_pulls_and_a_missing_image_fails_the_task(
    container_pool: BatchEmulator, podman_env: dict[str, str]
) -> None:
    container_pool.use_podman(podman_env)
    missing = "localhost/superbatch-test/never-built:1"
    task = run_one_task(container_pool, container_pool.client(), _task("true", missing), 120)
    assert failure_code(task) == "ContainerInvalidImage"
    details = executed(task).failure_info.details or []  # type: ignore[union-attr]
    assert details[0].name == "ContainerImage" and missing in str(details[0].value)


@pytest.mark.parametrize(
    ("command", "options", "stdout"),
    [
        ("hello", None, f"{ENTRYPOINT_MARKER} hello\n"),  # arguments of the ENTRYPOINT
        ("", None, f"{ENTRYPOINT_MARKER}\n"),  # the image's default
        ("/bin/echo replaced", "--entrypoint=", "replaced\n"),  # --entrypoint overrides it
    ],
)
def test_the_command_line_goes_to_the_image_entrypoint_as_on_batch(
    container_pool: BatchEmulator,
    podman_env: dict[str, str],
    command: str,
    options: str | None,
    stdout: str,
) -> None:
    container_pool.use_podman(podman_env)
    client = container_pool.client()
    task = run_one_task(
        container_pool, client, _task(command, entrypoint_image(podman_env), options), 120
    )
    assert executed(task).exit_code == 0, executed(task)
    assert b"".join(client.download_task_file("job-1", "t", "stdout.txt")).decode() == stdout


def test_nodes_that_fail_to_start_are_unusable_and_tasks_wait(azurite: Azurite) -> None:
    failing = PoolInjections()
    failing.fail_node_start()
    spec = PoolSpec(formula="$TargetDedicatedNodes = 1;", interval_seconds=300, inject=failing)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        emulator.clock.advance(0)
        client = emulator.client()
        [node] = client.list_nodes(emulator.pool_id)
        assert node.state == m.BatchNodeState.UNUSABLE
        assert node.errors and node.errors[0].code
        new_job(emulator, client)
        client.create_task("job-1", _task("true"))
        emulator.wait_idle()
        assert emulator.tasks("job-1")[0]["state"] == "active"


def test_an_allocation_failure_is_a_resize_error(azurite: Azurite) -> None:
    failing = PoolInjections(allocation_failure="insufficient capacity for the VM size")
    spec = PoolSpec(formula="$TargetDedicatedNodes = 2;", interval_seconds=300, inject=failing)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        emulator.clock.advance(0)
        pool = emulator.client().get_pool(emulator.pool_id)
        assert pool.resize_errors and pool.resize_errors[0].code == "AllocationFailed"
        assert pool.resize_errors[0].message == (
            "Desired number of dedicated nodes could not be allocated"
        )
        assert (pool.current_dedicated_nodes, pool.allocation_state) == (0, "steady")


@pytest.mark.parametrize("terminates", [True, False])
def test_switching_to_terminatejob_after_completion_has_both_answers(
    container_pool: BatchEmulator, terminates: bool
) -> None:
    container_pool.terminate_on_late_switch = terminates
    client = container_pool.client()
    new_job(container_pool, client)
    client.create_task("job-1", _task("true"))
    wait_for_tasks(client, "job-1", 1)
    client.update_job(
        "job-1",
        m.BatchJobUpdateOptions(all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB),
    )
    container_pool.wait_idle()
    assert container_pool.job("job-1")["state"] == ("completed" if terminates else "active")
