"""Operating jobs on (emulated) Azure through the real command: labels, `tasks`, prefixes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import superbatch, write

IMAGE = "docker.io/library/busybox:1.36"
SWEEP = {
    "p.csv": "seed,lr\n1,0.1\n2,0.2\n3,0.3\n",
    "job.toml": f"""\
        name = "sweep"
        image = "{IMAGE}"
        tasks = "p.csv"
        command = '''echo {{seed}}
        if [ {{seed}} = 2 ]; then echo 'bad lr' >&2; exit 3; fi
        if [ {{seed}} = 3 ]; then kill -9 $$; fi'''
        """,
}


def test_labels_and_tasks_on_azure(tmp_path: Path, stack: EmulatedStack) -> None:
    write(tmp_path, SWEEP)
    azure = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", "job.toml", *azure, cwd=tmp_path)
    assert run.code == 1, run.stderr
    assert "task 1 (seed=2 lr=0.2) failed: exit code 3" in run.stdout
    assert "task 2 (seed=3 lr=0.3) failed: killed by SIGKILL" in run.stdout
    job_id = next((tmp_path / "results").iterdir()).name
    manifest = json.loads((tmp_path / "results" / job_id / "manifest.json").read_text())
    assert [t["label"] for t in manifest["tasks"]] == [
        "seed=1 lr=0.1",
        "seed=2 lr=0.2",
        "seed=3 lr=0.3",
    ]

    status = superbatch("status", "last", *azure, "--json", cwd=tmp_path)
    assert [(t["task"], t["label"]) for t in status.json()["failed"]] == [
        ("1", "seed=2 lr=0.2"),
        ("2", "seed=3 lr=0.3"),
    ]
    rows = superbatch("tasks", job_id[:8], *azure, "--state", "failed", "--json", cwd=tmp_path)
    assert rows.code == 0, rows.stderr
    assert [(r["task"], r["label"], r["exit"]) for r in rows.json()] == [
        ("1", "seed=2 lr=0.2", "3"),
        ("2", "seed=3 lr=0.3", "killed by SIGKILL (exit code 137)"),
    ]
    assert all(r["node"] and r["duration_seconds"] is not None for r in rows.json())
    table = superbatch("tasks", job_id, *azure, cwd=tmp_path)
    assert table.stdout.splitlines()[1].split()[:2] == ["0", "succeeded"]


def _blobs(stack: EmulatedStack, container: str) -> list[str]:
    return [b.name for b in stack.container(container).list_blobs()]


def test_dry_run_on_azure_creates_nothing(tmp_path: Path, stack: EmulatedStack) -> None:
    files = {f"data/{i}.txt": "x" * (i + 1) for i in range(150)}
    spec = f'name = "dry"\nimage = "{IMAGE}"\ninputs = "data/*.txt"\ncommand = "cat {{input}}"\n'
    write(tmp_path, {**files, "job.toml": spec})
    azure = ("--outputs", str(stack.outputs_file))
    args = ("run", "job.toml", *azure, "--dry-run", "--estimate", "30m")
    plan = superbatch(*args, "--price-per-node-hour", "0.5", "--json", cwd=tmp_path)
    assert plan.code == 0, plan.stderr
    data = plan.json()
    assert (data["tasks"], data["tasks_to_add"], data["exists"]) == (150, 150, False)
    assert (data["files_new"], data["files_staged"], data["bytes_new"]) == (
        150,
        0,
        sum(range(1, 151)),
    )
    assert data["requests"] == {"storage": 151, "batch": 1 + 2 + 1}
    slots = stack.emulator.slots
    assert data["nodes"] == -(-150 // slots) and data["slots_per_node"] == slots
    assert data["node_hours"] == 150 * 0.5 / slots
    assert data["cost"] == data["node_hours"] * 0.5
    assert _blobs(stack, stack.outputs.inputs_container) == []
    assert stack.emulator.requests["create_job"] == 0 and stack.emulator.requests["list_jobs"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "job.toml", "stack-outputs.json"]

    assert superbatch("run", "job.toml", *azure, cwd=tmp_path).code == 0
    again = superbatch(*args, "--json", cwd=tmp_path).json()
    assert (again["exists"], again["tasks_to_add"], again["files_new"], again["files_staged"]) == (
        True, 0, 0, 150,
    )  # fmt: skip
    assert again["cost"] is None  # no price given: no cost, no lookup
    text = superbatch(*args, cwd=tmp_path)
    assert "nothing created" in text.stdout and "already staged: 150" in text.stdout
