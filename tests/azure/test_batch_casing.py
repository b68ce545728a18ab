"""Through the real CLI, against the emulator answering with real Batch's enum casing.

Real Batch answers add-collection results with ``"status": "Success"`` (the .NET SDK's
``AddTaskCollection`` recording, api-version 2025-06-01; see tests/conformance). A runner
comparing the raw JSON to ``"success"`` ends every chunk in "Batch refused task ...".
250 tasks = three collections (100 + 100 + 50).
"""

from __future__ import annotations

from pathlib import Path

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
