"""Through the real CLI, against the emulator answering with real Batch's enum casing.

Real Batch answers add-collection results with ``"status": "Success"`` (the .NET SDK's
``AddTaskCollection`` recording, api-version 2025-06-01; see tests/conformance). A runner
comparing the raw JSON to ``"success"`` ends every chunk in "Batch refused task ...".
250 tasks = three collections (100 + 100 + 50).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import superbatch, write

TASKS = 250


def test_a_job_of_250_tasks_succeeds_against_batch_casing(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    rows = "\n".join(["n", *(str(i) for i in range(TASKS))])
    write(
        tmp_path,
        {
            "params.csv": rows + "\n",
            "job.toml": """\
                name = "casing"
                image = "docker.io/library/busybox:1.36"
                tasks = "params.csv"
                command = "echo {n}"
                """,
        },
    )

    run = superbatch(
        "run", "job.toml", "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path
    )

    assert run.code == 0, run.stderr
    assert stack.emulator.requests["create_task_collection"] >= 3
    answer = run.json()
    assert answer["counts"]["succeeded"] == TASKS, answer
    assert answer["counts"]["failed"] == 0, answer


@pytest.mark.parametrize("lowercase", [False, True], ids=["batch-casing", "lower-case"])
def test_re_adding_tasks_counts_them_present_whatever_the_casing(
    batch_emulator: Any, lowercase: bool
) -> None:
    """No recording shows a failed add: ``ClientError``/``TaskExists`` under either casing."""
    from superbatch.azure.submit import TaskSubmitter
    from tests.emulator.helpers import new_job

    client = batch_emulator.client()
    new_job(batch_emulator, client)
    batch_emulator.hold = True
    batch_emulator.lowercase_add_results = lowercase
    bodies = {
        str(i): json.dumps({"id": str(i), "commandLine": "true"}).encode() for i in range(150)
    }

    def submit() -> Any:
        return TaskSubmitter(client, "job-1").submit(
            bodies.items(), expected=set(bodies), body_for=bodies.__getitem__
        )

    first, second = submit(), submit()

    assert (first.added, first.already_present) == (150, 0)
    assert (second.added, second.already_present) == (0, 150)
