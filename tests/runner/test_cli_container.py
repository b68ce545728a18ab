"""`superbatch run --local` in a real container (podman, a busybox image built from a local
rootfs: no registry pulls). The node root is mounted at the same path, as on Batch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.runner.conftest import cli_env, job_id_of, superbatch, write


def _env(podman_env: dict[str, str]) -> dict[str, str]:
    return cli_env({k: v for k, v in podman_env.items() if k.startswith("CONTAINERS_")})


def test_task_runs_in_the_image_with_batch_mounts_env_and_outputs(
    project: Path, podman_env: dict[str, str], busybox_image: str
) -> None:
    write(
        project,
        {
            "data/a b.txt": "one two\n",
            "data/c.txt": "three\n",
            "lib/words.sh": 'wc -w < "$1" | tr -d " "\n',
            "job.toml": f"""\
                name = "inside"
                image = "{busybox_image}"
                inputs = "data/*.txt"
                shared = ["lib/words.sh"]
                command = '''
                set -e
                mkdir -p out && sh lib/words.sh {{input}} > out/{{stem}}.n
                env | sort > env.txt && pwd > pwd.txt
                test -e /run/.containerenv && echo in-container > where.txt
                ls $AZ_BATCH_NODE_SHARED_DIR > /dev/null'''
                outputs = ["out/*", "*.txt"]
                env = {{ MODE = "container" }}
                [aggregate]
                command = '''cat results/*/out/*.n > all.txt
                test -e /run/.containerenv && echo agg-in-container >> all.txt'''
                outputs = ["all.txt"]
                """,
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", "podman", "--json",
        cwd=project, env=_env(podman_env),
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr
    job_id = job_id_of(result)
    root = project / "results" / job_id
    assert (root / "0" / "out" / "a b.n").read_text() == "2\n"
    assert (root / "1" / "out" / "c.n").read_text() == "1\n"
    for task in ("0", "1"):
        assert (root / task / "where.txt").read_text() == "in-container\n"
        env = dict(
            line.split("=", 1) for line in (root / task / "env.txt").read_text().splitlines()
        )
        assert env["MODE"] == "container"
        assert env["AZ_BATCH_JOB_ID"] == job_id and env["AZ_BATCH_TASK_ID"] == task
        # The node root is mounted at the same path: the host path is the container path.
        task_dir = Path(env["AZ_BATCH_TASK_DIR"])
        assert task_dir == project / ".superbatch" / "node" / "workitems" / job_id / "job-1" / task
        assert (root / task / "pwd.txt").read_text().strip() == env["AZ_BATCH_TASK_WORKING_DIR"]
        assert env["AZ_BATCH_TASK_WORKING_DIR"] == f"{task_dir}/wd"
    assert (root / "_aggregate" / "all.txt").read_text() == "2\n1\nagg-in-container\n"
    manifest = json.loads((root / "manifest.json").read_text())
    assert [t["state"] for t in manifest["tasks"]] == ["succeeded", "succeeded"]
    leftovers = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"name=sb-{job_id}", "--format", "{{.Names}}"],
        env=podman_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert leftovers.stdout.strip() == ""


def test_timeout_removes_the_container(
    project: Path, podman_env: dict[str, str], busybox_image: str
) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n",
            "job.toml": f"""\
                name = "ctimeout"
                image = "{busybox_image}"
                tasks = "params.csv"
                timeout = "2s"
                command = "sleep 300"
                """,
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", "podman", "--json",
        cwd=project, env=_env(podman_env),
    )  # fmt: skip
    assert result.code == 1
    assert result.json()["failed"][0]["failure"] == "timed out after 2s"
    names = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"],
        env=podman_env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert f"sb-{job_id_of(result)}-0" not in names


def test_explicit_engine_without_the_image_refuses_before_anything(
    project: Path, podman_env: dict[str, str]
) -> None:
    write(
        project,
        {
            "data/a.txt": "a\n",
            "job.toml": 'name = "noimg"\nimage = "localhost/superbatch-test/absent:1"\n'
            'command = "cat {input}"\ninputs = "data/*.txt"\n',
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", "podman", cwd=project, env=_env(podman_env)
    )
    assert result.code == 3
    assert result.stderr.strip().splitlines() == [
        "error: image localhost/superbatch-test/absent:1 is not in podman's local images: "
        "build it with `superbatch image build` first, or use --no-container"
    ]
    assert not (project / ".superbatch").exists() and not (project / "results").exists()


def test_auto_mode_without_the_image_warns_once_and_runs_on_the_host(
    project: Path, podman_env: dict[str, str]
) -> None:
    write(
        project,
        {
            "data/a.txt": "a\n",
            "job.toml": 'name = "fallback"\nimage = "localhost/superbatch-test/absent:1"\n'
            'command = "test ! -e /run/.containerenv && cat {input}"\ninputs = "data/*.txt"\n',
        },
    )
    result = superbatch("run", "job.toml", "--local", cwd=project, env=_env(podman_env))
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "running tasks on this machine" in warnings[0]


def test_clean_removes_containers_a_killed_run_left_behind(
    project: Path, podman_env: dict[str, str], busybox_image: str
) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n",
            "job.toml": f"""\
                name = "cleftover"
                image = "{busybox_image}"
                tasks = "params.csv"
                command = "sleep 300"
                """,
        },
    )
    env = _env(podman_env)
    runner = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", "job.toml", "--local", "--engine", "podman"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def containers() -> list[str]:
        return subprocess.run(
            ["podman", "ps", "-a", "--format", "{{.Names}}"],
            env=podman_env, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip

    jobs = project / ".superbatch" / "jobs"
    deadline = time.monotonic() + 120  # a guard against hanging, never asserted on
    try:
        while not (jobs.is_dir() and any(f"sb-{j.name}-0" in containers() for j in jobs.iterdir())):
            assert time.monotonic() < deadline, "the task's container never started"
            time.sleep(0.2)
    finally:
        runner.kill()  # kill -9: no chance to remove its container
        runner.wait()
    job_id = next(jobs.iterdir()).name
    try:
        assert f"sb-{job_id}-0" in containers()  # left behind
        clean = superbatch("clean", job_id, "--local", "--yes", cwd=project, env=env)
        assert clean.code == 0, clean.stderr
        assert f"sb-{job_id}-0" not in containers()
    finally:
        subprocess.run(
            ["podman", "rm", "-f", "-t", "0", f"sb-{job_id}-0"],
            env=podman_env, capture_output=True, check=False,
        )  # fmt: skip
