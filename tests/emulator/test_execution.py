"""The node: real processes without a shell, retries, limits."""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterator

import pytest
from azure.batch import models as m

from tests.emulator.fixtures import serve_emulator
from tests.emulator.helpers import executed, failure_code, new_job, run_one_task, wait_for_tasks
from tests.emulator.server import BatchEmulator, start_emulator
from tests.support.azurite import Azurite


def test_command_line_runs_without_a_shell(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(id="pipe", command_line="ls | wc -l"),
            m.BatchTaskCreateOptions(id="assign", command_line="GREETING=hi env"),
            m.BatchTaskCreateOptions(id="wrapped", command_line="/bin/sh -c 'ls / | wc -l'"),
            m.BatchTaskCreateOptions(id="var", command_line="echo $AZ_BATCH_TASK_ID"),
            m.BatchTaskCreateOptions(id="quote", command_line="echo 'unbalanced"),
        ],
    )
    tasks = {t.id: t for t in wait_for_tasks(client, "job-1", 5)}
    assert failure_code(tasks["quote"]) == "CommandLaunchFailed"
    assert failure_code(tasks["pipe"]) == "FailureExitCode"
    assert failure_code(tasks["assign"]) == "CommandProgramNotFound"
    assert executed(tasks["assign"]).exit_code is None
    assert executed(tasks["wrapped"]).result == m.BatchTaskExecutionResult.SUCCESS
    assert (
        b"".join(client.download_task_file("job-1", "var", "stdout.txt")) == b"$AZ_BATCH_TASK_ID\n"
    )


def test_node_environment_and_task_files(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    run_one_task(
        batch_emulator,
        client,
        m.BatchTaskCreateOptions(
            id="env",
            command_line="/bin/sh -c 'env > wd-env.txt; pwd'",
            environment_settings=[m.EnvironmentSetting(name="OWN", value="o")],
        ),
        common_environment_settings=[m.EnvironmentSetting(name="COMMON", value="c")],
    )
    raw = b"".join(client.download_task_file("job-1", "env", "wd/wd-env.txt")).decode()
    env = dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)
    task_dir = f"{batch_emulator.node_root}/workitems/job-1/job-1/env"
    assert env["AZ_BATCH_TASK_DIR"] == task_dir
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == f"{task_dir}/wd"
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == f"{batch_emulator.node_root}/shared"
    assert (env["AZ_BATCH_JOB_ID"], env["AZ_BATCH_TASK_ID"]) == ("job-1", "env")
    assert env["AZ_BATCH_POOL_ID"] == batch_emulator.pool_id
    assert env["AZ_BATCH_ACCOUNT_URL"] == batch_emulator.url
    assert (env["COMMON"], env["OWN"]) == ("c", "o")
    stdout = b"".join(client.download_task_file("job-1", "env", "stdout.txt")).decode()
    assert stdout.strip() == f"{task_dir}/wd"
    names = {f.name for f in client.list_task_files("job-1", "env", recursive=True)}
    assert {"stdout.txt", "stderr.txt", "wd", "wd/wd-env.txt"} <= names


def test_retries_then_failure_and_retry_then_success(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    count = "n=$(cat ../count 2>/dev/null || echo 0); n=$((n+1)); echo $n > ../count"
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(
                id="always-fails",
                command_line=f"/bin/sh -c '{count}; exit 1'",
                constraints=m.BatchTaskConstraints(max_task_retry_count=2),
            ),
            m.BatchTaskCreateOptions(
                id="second-try",
                command_line=f"/bin/sh -c '{count}; test $n -ge 2'",
                constraints=m.BatchTaskConstraints(max_task_retry_count=5),
            ),
        ],
    )
    tasks = {t.id: t for t in wait_for_tasks(client, "job-1", 2)}
    failed = executed(tasks["always-fails"])
    assert (failed.retry_count, failed.result, failed.exit_code) == (2, "failure", 1)
    assert b"".join(client.download_task_file("job-1", "always-fails", "count")) == b"3\n"
    succeeded = executed(tasks["second-try"])
    assert (succeeded.retry_count, succeeded.result) == (1, "success")


def test_max_wall_clock_kills_the_process_group(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    task = run_one_task(
        batch_emulator,
        client,
        m.BatchTaskCreateOptions(
            id="slow",
            command_line="/bin/sh -c 'sleep 60 & echo $! > child; wait'",
            constraints=m.BatchTaskConstraints(
                max_wall_clock_time=datetime.timedelta(seconds=1), max_task_retry_count=3
            ),
        ),
        timeout=30,
    )
    info = executed(task)
    assert failure_code(task) == "MaxWallClockTimeExpiry"
    assert info.retry_count == 0
    child = int(b"".join(client.download_task_file("job-1", "slow", "wd/child")))
    with pytest.raises(ProcessLookupError):
        _signal_zero(child)


def _signal_zero(pid: int) -> None:
    import os
    import time

    for _ in range(50):  # the killed child may take a moment to be reaped by init
        os.kill(pid, 0)
        time.sleep(0.1)


def test_dependencies_by_id_and_range(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client, uses_task_dependencies=True)
    parents = [m.BatchTaskCreateOptions(id=str(i), command_line="sleep 0.2") for i in range(3)]
    client.create_tasks(
        "job-1",
        [
            m.BatchTaskCreateOptions(
                id="merge",
                command_line="true",
                depends_on=m.BatchTaskDependencies(
                    task_id_ranges=[m.BatchTaskIdRange(start=0, end=2)]
                ),
            ),
            m.BatchTaskCreateOptions(id="bad", command_line="false"),
            m.BatchTaskCreateOptions(
                id="blocked",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["bad", "0"]),
            ),
            *parents,
        ],
    )
    batch_emulator.wait_idle()
    tasks = {t.id: t for t in client.list_tasks("job-1")}
    merge_start = executed(tasks["merge"]).start_time
    assert merge_start is not None
    for parent in range(3):
        parent_end = executed(tasks[str(parent)]).end_time
        assert parent_end is not None and parent_end <= merge_start, parent
    assert executed(tasks["merge"]).result == m.BatchTaskExecutionResult.SUCCESS
    assert tasks["blocked"].state == m.BatchTaskState.ACTIVE  # a failed parent blocks


@pytest.fixture
def two_slot_emulator(azurite: Azurite) -> Iterator[BatchEmulator]:
    yield from serve_emulator(start_emulator(azurite=azurite, slots=2, container=False))


def test_slots_limit_running_tasks(two_slot_emulator: BatchEmulator) -> None:
    client = two_slot_emulator.client()
    new_job(two_slot_emulator, client)
    client.create_tasks(
        "job-1",
        [
            *[m.BatchTaskCreateOptions(id=f"s{i}", command_line="sleep 0.3") for i in range(4)],
            m.BatchTaskCreateOptions(id="wide", command_line="sleep 0.3", required_slots=2),
        ],
    )
    most_slots = 0
    tasks = two_slot_emulator.tasks("job-1")
    while any(t["state"] != "completed" for t in tasks):
        running = [t for t in tasks if t["state"] == "running"]
        most_slots = max(most_slots, sum(t["requiredSlots"] for t in running))
        tasks = two_slot_emulator.tasks("job-1")
    assert most_slots <= 2
    assert all(t["executionInfo"]["result"] == "success" for t in tasks)


def test_hold_mode_records_without_running(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    batch_emulator.hold = True
    new_job(batch_emulator, client)
    client.create_tasks(
        "job-1", [m.BatchTaskCreateOptions(id=str(i), command_line="true") for i in range(150)]
    )
    batch_emulator.wait_idle()
    assert client.get_job_task_counts("job-1").task_counts.active == 150
    assert batch_emulator.requests["create_task_collection"] == 2
    batch_emulator.hold = False
    assert len(wait_for_tasks(client, "job-1", 150)) == 150


def test_container_task_runs_in_podman(
    batch_emulator: BatchEmulator, podman_env: dict[str, str], busybox_image: str
) -> None:
    batch_emulator.use_podman(podman_env)
    client = batch_emulator.client()
    task = run_one_task(
        batch_emulator,
        client,
        m.BatchTaskCreateOptions(
            id="boxed",
            command_line=(
                "/bin/sh -c 'grep ^worker: /etc/passwd > where.txt; echo $AZ_BATCH_TASK_ID'"
            ),
            container_settings=m.BatchTaskContainerSettings(
                image_name=busybox_image, container_run_options="--network=none"
            ),
        ),
        timeout=120,
    )
    assert executed(task).result == m.BatchTaskExecutionResult.SUCCESS, executed(task)
    assert task.container_settings is not None
    assert task.container_settings.image_name == busybox_image
    where = b"".join(client.download_task_file("job-1", "boxed", "wd/where.txt"))
    assert where.startswith(b"worker:x:1000")  # the image's /etc/passwd, not the host's
    assert b"".join(client.download_task_file("job-1", "boxed", "stdout.txt")) == b"boxed\n"


def test_container_task_past_its_wall_clock_is_killed(
    batch_emulator: BatchEmulator, podman_env: dict[str, str], busybox_image: str
) -> None:
    batch_emulator.use_podman(podman_env)
    client = batch_emulator.client()
    task = run_one_task(
        batch_emulator,
        client,
        m.BatchTaskCreateOptions(
            id="boxed-slow",
            command_line="sleep 60",
            container_settings=m.BatchTaskContainerSettings(image_name=busybox_image),
            constraints=m.BatchTaskConstraints(max_wall_clock_time=datetime.timedelta(seconds=2)),
        ),
        timeout=120,
    )
    assert failure_code(task) == "MaxWallClockTimeExpiry"
    with batch_emulator.account.lock:
        name = batch_emulator.account.task("job-1", "boxed-slow").container_name
    assert name is not None and name.startswith("batch-")
    # only this task's container: the podman store is shared, and another xdist worker's
    # emulator runs its own batch-* containers meanwhile
    names = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"],
        env=podman_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert name not in names  # removed, not left over
