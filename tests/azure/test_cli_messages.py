"""Azure-side messages and counts (issue 11 traps 3-5), through the real ``superbatch``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import cli_env, superbatch, write

IMAGE = "docker.io/library/busybox:1.36"
JOB = f"""\
name = "messages"
image = "{IMAGE}"
tasks = "p.csv"
command = "mkdir -p out && echo {{n}} > out/{{n}}.txt && test {{n}} -ne 2 || exit 7"
outputs = ["out", "out/*.txt"]
retries = 1

[aggregate]
command = "true"
"""


@pytest.mark.parametrize("logged_out", [False, True], ids=["az missing", "az not signed in"])
def test_no_identity_is_one_line_fitting_the_machine(
    tmp_path: Path, fake_az_login: Path, logged_out: bool
) -> None:
    outputs = {
        name: "https://127.0.0.1:9/x" for name in ("batch_account_endpoint", "blob_endpoint")
    }
    outputs.update(
        {
            name: f"value-{name}"
            for name in (
                "batch_account_name",
                "pool_id",
                "storage_account_name",
                "inputs_container",
                "outputs_container",
                "node_identity_resource_id",
                "node_identity_client_id",
                "resource_group",
                "location",
            )
        }
    )
    outputs.update(
        inputs_container_url="https://127.0.0.1:9/i",
        outputs_container_url="https://127.0.0.1:9/o",
        registry_login_server="registry.invalid",
    )
    write(tmp_path, {"p.csv": "n\n1\n", "job.toml": JOB, "o.json": json.dumps(outputs)})
    env = cli_env()
    if logged_out:
        env["FAKE_AZ_LOGGED_OUT"] = "1"
        fix = "run `az login` (the Azure CLI is not signed in)"
    else:  # the fake az's folder left out of PATH: no az at all
        env["PATH"] = os.pathsep.join(
            p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "az").exists()
        )
        fix = "install the Azure CLI (`az` is not on PATH) and run `az login`"
    result = superbatch("run", "job.toml", "--outputs", "o.json", cwd=tmp_path, env=env)
    assert result.code == 3
    assert result.stderr == (
        f"error: no Azure identity to get an Entra ID token: {fix}, or run where a managed "
        "or workload identity is set up\n"
    )


def test_failed_task_counts_and_unmatched_patterns_read_as_on_local(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    write(tmp_path, {"p.csv": "n\n1\n2\n", "job.toml": JOB})
    args = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", "job.toml", *args, cwd=tmp_path)
    assert run.code == 1, run.stderr
    job_id = run.stdout.split(":", 1)[0]
    assert f"{job_id}: completed: 2 tasks, queued 0  running 0  succeeded 1  failed 1" in run.stdout
    assert "task 1 (n=2) failed: exit code 7 (after 2 attempts)" in run.stdout
    hub = [line for line in run.stderr.splitlines() if "comes from Docker Hub" in line]
    assert hub == [  # once per run, through the real CLI (test_image_check.py: the import)
        f"warning: image {IMAGE} comes from Docker Hub: every node pulls it from there, and "
        "Docker Hub limits anonymous pulls; copy it into the stack's registry once with "
        f'`superbatch image import {IMAGE} --stack NAME` and use image = "busybox:1.36"'
    ]
    assert [line for line in run.stderr.splitlines() if "output pattern" in line] == [
        "warning: output pattern 'out' matched no file in any task (a folder? collect its "
        'files with "out/**/*")',
    ]
    jobs = superbatch("jobs", *args, cwd=tmp_path)  # the aggregate step is not a task
    assert f"{job_id}" in jobs.stdout and " 2 tasks: queued 0" in jobs.stdout, jobs.stdout
