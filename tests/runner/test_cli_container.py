"""`superbatch run --local` in a real container, on podman and on docker (both started by the
suite; a busybox image imported from a local rootfs: no registry pulls). The node root is
mounted at the same path, as on Batch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.runner.conftest import cli_env, job_id_of, superbatch, write
from tests.support.engines import EngineUnderTest


def _env(engine: EngineUnderTest) -> dict[str, str]:
    return cli_env(engine.cli_vars())


def _containers(engine: EngineUnderTest, *filters: str) -> list[str]:
    return engine("ps", "-a", *filters, "--format", "{{.Names}}").stdout.split()


def test_task_runs_in_the_image_with_batch_mounts_env_and_outputs(
    project: Path, engine: EngineUnderTest
) -> None:
    write(
        project,
        {
            "data/a b.txt": "one two\n",
            "data/c.txt": "three\n",
            "lib/words.sh": 'wc -w < "$1" | tr -d " "\n',
            "job.toml": f"""\
                name = "inside"
                image = "{engine.busybox()}"
                inputs = "data/*.txt"
                shared = ["lib/words.sh"]
                command = '''
                set -e
                mkdir -p out && sh lib/words.sh {{input}} > out/{{stem}}.n
                env | sort > env.txt && pwd > pwd.txt
                test -e /run/.containerenv -o -e /.dockerenv && echo in-container > where.txt
                ls $AZ_BATCH_NODE_SHARED_DIR > /dev/null'''
                outputs = ["out/*", "*.txt"]
                env = {{ MODE = "container" }}
                [aggregate]
                command = '''cat results/*/out/*.n > all.txt
                test -e /run/.containerenv -o -e /.dockerenv && echo agg-in-container >> all.txt'''
                outputs = ["all.txt"]
                """,
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", engine.name, "--json",
        cwd=project, env=_env(engine),
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
    assert _containers(engine, "--filter", f"name=sb-{job_id}") == []


def test_timeout_removes_the_container(project: Path, engine: EngineUnderTest) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n",
            "job.toml": f"""\
                name = "ctimeout"
                image = "{engine.busybox()}"
                tasks = "params.csv"
                timeout = "2s"
                command = "sleep 300"
                """,
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", engine.name, "--json",
        cwd=project, env=_env(engine),
    )  # fmt: skip
    assert result.code == 1
    assert result.json()["failed"][0]["failure"] == "timed out after 2s"
    assert f"sb-{job_id_of(result)}-0" not in _containers(engine)


def test_explicit_engine_without_the_image_refuses_before_anything(
    project: Path, engine: EngineUnderTest
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
        "run", "job.toml", "--local", "--engine", engine.name, cwd=project, env=_env(engine)
    )
    assert result.code == 3
    assert result.stderr.strip().splitlines() == [
        f"error: image localhost/superbatch-test/absent:1 is not in {engine.name}'s local images: "
        "build it with `superbatch image build` first, or use --no-container"
    ]
    assert not (project / ".superbatch").exists() and not (project / "results").exists()


def test_auto_mode_without_the_image_warns_once_and_runs_on_the_host(
    project: Path, engine: EngineUnderTest
) -> None:
    write(
        project,
        {
            "data/a.txt": "a\n",
            # on the host: the project dir is there (a container sees only the node root;
            # and no marker file works, this host may itself be a container)
            "job.toml": 'name = "fallback"\nimage = "localhost/superbatch-test/absent:1"\n'
            f'command = "test -e {project}/job.toml && cat {{input}}"\n'
            'inputs = "data/*.txt"\n',
        },
    )
    env = _env(engine)
    if engine.name == "podman":  # auto mode tries docker first: none answers here
        env["DOCKER_HOST"] = f"unix://{project}/no-docker.sock"
    result = superbatch("run", "job.toml", "--local", cwd=project, env=env)
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "running tasks on this machine" in warnings[0]
    assert f"not in {engine.name}'s local images" in warnings[0]  # the engine auto mode found


def test_clean_removes_containers_a_killed_run_left_behind(
    project: Path, engine: EngineUnderTest
) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n",
            "job.toml": f"""\
                name = "cleftover"
                image = "{engine.busybox()}"
                tasks = "params.csv"
                command = "sleep 300"
                """,
        },
    )
    env = _env(engine)
    runner = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", "job.toml", "--local", "--engine", engine.name],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def containers() -> list[str]:
        return _containers(engine)

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
        engine("rm", "-f", f"sb-{job_id}-0", check=False)
