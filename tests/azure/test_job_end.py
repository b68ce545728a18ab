"""The job ends when every task is done, whether or not Batch terminates a job switched to
``terminatejob`` after its tasks had all completed (unverified: the emulator does either,
``terminate_on_late_switch``). Through the real CLI; the switch is held back (latency on
``update_job``) until the one task has completed, so the switch is always late."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import job_id_of, superbatch, write


@pytest.mark.parametrize("terminates", [True, False], ids=["batch-ends-it", "batch-does-not"])
def test_a_job_whose_tasks_all_completed_before_the_switch_ends(
    tmp_path: Path, stack: EmulatedStack, terminates: bool
) -> None:
    emulator = stack.emulator
    emulator.terminate_on_late_switch = terminates
    emulator.faults.add("update_job", "latency", latency=3.0)
    write(
        tmp_path,
        {
            "job.toml": """\
                name = "late"
                image = "docker.io/library/busybox:1.36"
                tasks = "rows.csv"
                command = "echo {n}"
                """,
            "rows.csv": "n\n1\n",
        },
    )

    run = superbatch(
        "run", "job.toml", "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path
    )

    assert run.code == 0, run.stderr
    job = emulator.job(job_id_of(run))
    assert job["state"] in ("terminating", "completed"), job
    assert job["executionInfo"].get("terminateReason") == "AllTasksCompleted", job
