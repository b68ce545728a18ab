"""container/ end to end: build it on a local Debian+python3 base, push it to the real registry,
pull it back by digest, and run a task in it the way Batch (and ``--local``) does.

Batch runs a Linux container task with the node root dir mounted at the same path, the task's
working dir as the container's working dir, the AZ_BATCH_* variables, and the task user's
uid:gid (the task dir belongs to that user). ``run_like_batch`` does exactly that with podman,
on the LocalBackend's own node layout.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from superbatch.local.node import NodeLayout, prepare_task_dir
from superbatch.model import InputFile
from tests.images.local_registry import LocalRegistry
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.container

CONTAINER_DIR = REPO_ROOT / "container"


def run_like_batch(
    image: str,
    node_root: Path,
    *,
    job: str,
    task: str,
    command: str,
    inputs: dict[str, str],
    user: str | None,
    env: dict[str, str],
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The LocalBackend's node layout, AZ_BATCH_* variables and ``podman run`` arguments (root
    mounted at the same path, ``-w`` the working dir, ``/bin/sh -c``), plus what Batch adds on
    a Linux node: the task dir belongs to the task user and the container runs as that uid."""
    layout = NodeLayout(node_root)
    task_dir = layout.task_dir(job, task)
    sources = node_root.parent / f"{node_root.name}-inputs"
    sources.mkdir(parents=True)
    staged = []
    for name, text in inputs.items():
        (sources / name).write_text(text)
        staged.append(InputFile(sources / name, name))
    wd = prepare_task_dir(task_dir, staged)
    layout.shared_dir.mkdir(exist_ok=True)
    owner = int((user or "1000:1000").split(":")[0])
    for path in [task_dir, *task_dir.rglob("*")]:
        os.chown(path, owner, owner)
    args = ["podman", "run", "--rm", "-v", f"{node_root}:{node_root}", "-w", str(wd)]
    if user:
        args += ["--user", user]
    for key, value in layout.batch_env(job, task).items():
        args += ["-e", f"{key}={value}"]
    result = subprocess.run(
        [*args, image, "/bin/sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, wd


def podman_out(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_container_builds_pushes_pulls_by_digest_and_runs_a_task(
    tmp_path: Path,
    engine_environ: dict[str, str],
    python_base: str,
    local_registry: LocalRegistry,
) -> None:
    runner = CliRunner()
    build = runner.invoke(
        image_app,
        [
            "build",
            str(CONTAINER_DIR),
            "--name",
            "wordcount",
            "--build-arg",
            f"BASE_IMAGE={python_base}",
            "--json",
        ],
    )
    assert build.exit_code == 0, f"{build.exception!r} {build.stderr[-2000:]}"
    built = json.loads(build.stdout)
    assert (
        podman_out(engine_environ, "image", "inspect", "--format", "{{.Config.User}}", built["id"])
        == "1000:1000"
    )

    push = runner.invoke(
        image_app, ["push", built["image"], "--registry", local_registry.host, "--json"]
    )
    assert push.exit_code == 0, f"{push.exception!r} {push.stderr[-2000:]}"
    pushed = json.loads(push.stdout)
    pinned = pushed["pinned"]
    assert pinned == f"{local_registry.host}/wordcount@{pushed['digest']}"

    # forget the image entirely, then pull it back by digest: the registry really holds it
    subprocess.run(
        ["podman", "rmi", "--force", built["id"]],
        env=engine_environ,
        capture_output=True,
        check=True,
    )
    assert (
        subprocess.run(["podman", "image", "exists", built["id"]], env=engine_environ).returncode
        == 1
    )
    podman_out(engine_environ, "pull", "-q", pinned)
    assert (
        f"sha256:{podman_out(engine_environ, 'image', 'inspect', '--format', '{{.Id}}', pinned)}"
        == built["id"]
    )

    text = "the quick brown fox jumps over the lazy dog the end\n"
    checks = (
        "python3 /app/worker.py 'my words.txt'"
        " && ! touch /app/tamper 2>/dev/null"  # the code is read-only for the task user
        ' && touch "$HOME/.cache-probe"'  # but HOME is writable, even for an unknown uid
        ' && test "$(command -v python3)" = /opt/venv/bin/python3'  # the deps stage's venv
        ' && test -f "$AZ_BATCH_TASK_DIR/wd/my words.txt"'
    )
    # 1) as Batch runs it: the task user's uid, which the image has never heard of
    result, wd = run_like_batch(
        pinned,
        tmp_path / "node",
        job="wordcount-1",
        task="0",
        command=checks,
        inputs={"my words.txt": text},
        user="4321:4321",
        env=engine_environ,
    )
    assert result.returncode == 0, result.stderr
    assert "my words.txt: 11 words" in result.stdout
    assert json.loads((wd / "out" / "my words.json").read_text())["the"] == 3
    info = json.loads((wd / "out" / "task.json").read_text())
    assert (info["uid"], info["gid"], info["cwd"]) == (4321, 4321, str(wd))
    assert info["batch"]["AZ_BATCH_TASK_WORKING_DIR"] == str(wd)
    assert (
        info["batch"]["AZ_BATCH_JOB_ID"] == "wordcount-1"
        and info["batch"]["AZ_BATCH_TASK_ID"] == "0"
    )
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (wd / "out").iterdir()} == {(4321, 4321)}

    # 2) with the image's own user (no --user, like a plain `podman run`): non-root too
    result, wd = run_like_batch(
        pinned,
        tmp_path / "node2",
        job="wordcount-1",
        task="1",
        command="python3 /app/worker.py a.txt",
        inputs={"a.txt": "one two\n"},
        user=None,
        env=engine_environ,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((wd / "out" / "task.json").read_text())["uid"] == 1000
    assert (wd / "out" / "a.json").stat().st_uid == 1000

    # a failing input is a non-zero exit with the reason on stderr
    result, _ = run_like_batch(
        pinned,
        tmp_path / "node3",
        job="wordcount-1",
        task="2",
        command="python3 /app/worker.py missing.txt",
        inputs={},
        user="4321:4321",
        env=engine_environ,
    )
    assert result.returncode == 2 and "input missing.txt not found" in result.stderr
