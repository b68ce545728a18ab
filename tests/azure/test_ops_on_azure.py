"""Operating jobs on (emulated) Azure through the real command: labels, `tasks`, prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import superbatch, write
from tests.support.waiting import until

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


SLOW = {
    "p.csv": "n\n1\n2\n3\n4\n5\n6\n",
    "job.toml": f"""\
        name = "slow"
        image = "{IMAGE}"
        tasks = "p.csv"
        command = '''if [ {{n}} -le 2 ]; then echo quick {{n}} > out.txt; else sleep 120; fi'''
        outputs = ["out.txt"]
        """,
}


def test_detach_then_wait_on_azure(tmp_path: Path, stack: EmulatedStack) -> None:
    write(
        tmp_path,
        {
            "p.csv": "n\n1\n2\n",
            "job.toml": f'name = "bg"\nimage = "{IMAGE}"\ntasks = "p.csv"\n'
            'command = "sleep 1; echo {n} > o.txt"\noutputs = ["o.txt"]\n',
        },
    )
    azure = ("--outputs", str(stack.outputs_file))
    detached = superbatch("run", "job.toml", *azure, "--detach", cwd=tmp_path)
    assert detached.code == 0, detached.stderr
    job_id = detached.stdout.split(":")[0]
    assert f"superbatch wait {job_id} --outputs" in detached.stdout
    assert not (tmp_path / "results").exists()  # nothing waited for, nothing fetched
    assert len(stack.emulator.tasks(job_id)) == 2
    waited = superbatch("wait", job_id, *azure, "--json", cwd=tmp_path)
    assert waited.code == 0 and waited.json()["counts"]["succeeded"] == 2


def test_cancel_on_azure_stops_the_rest_and_keeps_results(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    write(tmp_path, SLOW)
    azure = ("--outputs", str(stack.outputs_file))
    detached = superbatch("run", "job.toml", *azure, "--detach", "--json", cwd=tmp_path)
    job_id = detached.json()["job_id"]

    def quick_done() -> bool:
        tasks = {t["id"]: t["state"] for t in stack.emulator.tasks(job_id)}
        return tasks.get("0") == tasks.get("1") == "completed" and "running" in tasks.values()

    until(quick_done)
    cancelled = superbatch("cancel", "last", *azure, "--json", cwd=tmp_path)
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.json()["state"] == "cancelled"
    states = [t["state"] for t in stack.emulator.tasks(job_id)]
    assert "running" not in states  # no task left running on the node
    assert stack.emulator.job(job_id)["state"] == "completed"

    waited = superbatch("wait", job_id, *azure, "--json", cwd=tmp_path, timeout=120)
    assert waited.code == 1 and waited.json()["state"] == "cancelled"
    fetched = superbatch("results", job_id, *azure, cwd=tmp_path)
    assert fetched.code == 0, fetched.stderr
    assert (tmp_path / "results" / job_id / "1" / "out.txt").read_text() == "quick 2\n"


@pytest.mark.parametrize("ranges", [True, False], ids=["ocp-range", "whole-file"])
def test_logs_follow_on_azure(tmp_path: Path, stack: EmulatedStack, ranges: bool) -> None:
    from tests.runner.test_cli_logs_follow import _waiting_job, follow_until_after

    stack.emulator.honour_ranges = ranges
    _waiting_job(tmp_path, IMAGE)
    azure = ("--outputs", str(stack.outputs_file))
    stack.emulator.hold = True  # accepted, not started: `logs` says so
    job_id = superbatch("run", "job.toml", *azure, "--detach", "--json", cwd=tmp_path).json()[
        "job_id"
    ]
    queued = superbatch("logs", job_id, "0", *azure, cwd=tmp_path)
    assert queued.code == 5 and queued.stdout == "" and "has not run yet" in queued.stderr
    stack.emulator.hold = False

    code, out, err = follow_until_after(("logs", job_id, "0", *azure, "-f"), tmp_path)
    assert code == 0, err
    assert out == "before 1\nafter 1\n" and err == "oops\n"
    assert stack.emulator.requests["download_task_file"] >= 1  # read from the node meanwhile


def _with_image(files: dict[str, str]) -> dict[str, str]:
    spec = files["job.toml"]
    return {
        **files,
        "job.toml": spec.replace('tasks = "p.csv"', f'image = "{IMAGE}"\ntasks = "p.csv"'),
    }


def test_max_failures_stops_200_failing_tasks_early_on_azure(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    from tests.runner.test_cli_policy import MANY

    files = _with_image(MANY)
    files["job.toml"] = files["job.toml"].replace("exit 1", "sleep 0.3; exit 1")
    write(tmp_path, files)
    azure = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", "job.toml", *azure, "--json", cwd=tmp_path, timeout=300)
    assert run.code == 1, run.stderr
    data = run.json()
    assert data["state"] == "stopped"
    assert data["counts"]["failed"] > 5
    job_id = data["job_id"]
    states = [t["state"] for t in stack.emulator.tasks(job_id)]
    assert states.count("completed") < 100  # stopped early: most never ran
    assert "running" not in states or stack.emulator.job(job_id)["state"] != "active"
    assert superbatch("status", job_id, *azure, "--json", cwd=tmp_path).json()["state"] == "stopped"


def test_allow_failures_on_azure_matches_local(tmp_path: Path, stack: EmulatedStack) -> None:
    from tests.runner.test_cli_policy import ALLOW

    write(tmp_path / "spec", _with_image(ALLOW))
    azure = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", "spec/job.toml", *azure, "--json", cwd=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    local = superbatch(
        "run", "spec/job.toml", "--local", "--no-container", "--results", "local", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert local.code == 0, local.stdout
    azure_dir, local_dir = Path(run.json()["results_dir"]), Path(local.json()["results_dir"])
    assert (azure_dir / "_aggregate" / "seen.txt").read_text() == "0\n2\n"
    azure_manifest = json.loads((azure_dir / "manifest.json").read_text())
    local_manifest = json.loads((local_dir / "manifest.json").read_text())
    assert {**azure_manifest, "backend": ""} == {**local_manifest, "backend": ""}


def test_report_on_azure_in_chromium(tmp_path: Path, stack: EmulatedStack) -> None:
    from tests.runner.test_cli_report import FLAKY, check_report_page

    write(tmp_path, _with_image(FLAKY))
    azure = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", "job.toml", *azure, "--json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    job_id = run.json()["job_id"]
    timings = json.loads((tmp_path / "results" / job_id / "timings.json").read_text())
    assert [len(t["attempts"]) for t in timings["tasks"]] == [2, 2, 2]
    assert all(t["queued"] is not None and t["attempts"][-1]["node"] for t in timings["tasks"])
    price = ("--price-per-node-hour", "3.5")
    numbers = superbatch("report", job_id, *azure, *price, "--json", cwd=tmp_path).json()
    assert numbers["failures"] == [{"error": "bad row 3", "count": 1, "tasks": ["2"]}]
    assert numbers["pool"] == "default"  # the job's pool, as status names it
    check_report_page(Path(numbers["html"]), numbers, 6)
