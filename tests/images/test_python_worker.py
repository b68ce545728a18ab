"""container/ end to end: build it on a local Debian+python3 base, push it to the real
registry, pull it back by digest, and run a job in it with ``superbatch run --local``; on
podman and on docker (whose private daemon uses overlay2 where it can: see
``tests/support/docker.py`` for what vfs costs this build).

Batch runs a Linux container task with the node root dir mounted at the same path, the task's
working dir as the container's working dir, the AZ_BATCH_* variables, and the task user's
uid:gid (the task dir belongs to that user). ``--local`` does the same with the invoking user,
so the image's own non-root user (uid 1000) never has to own the task dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from tests.images.local_registry import LocalRegistry
from tests.runner.conftest import cli_env, job_id_of, superbatch, write
from tests.support.engines import EngineUnderTest
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.container

CONTAINER_DIR = REPO_ROOT / "container"


def test_container_builds_pushes_pulls_by_digest_and_runs_a_task(
    tmp_path: Path,
    engine: EngineUnderTest,
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
            f"wordcount-{engine.name}",  # each engine's own build reaches the registry
            "--build-arg",
            f"BASE_IMAGE={python_base}",
            "--engine",
            engine.name,
            "--json",
        ],
    )
    assert build.exit_code == 0, f"{build.exception!r} {build.stderr[-2000:]}"
    built = json.loads(build.stdout)
    user = engine("image", "inspect", "--format", "{{.Config.User}}", built["id"]).stdout
    assert user.strip() == "1000:1000"

    push = runner.invoke(
        image_app,
        [
            "push",
            built["image"],
            "--registry",
            local_registry.host,
            "--engine",
            engine.name,
            "--json",
        ],
    )
    assert push.exit_code == 0, f"{push.exception!r} {push.stderr[-2000:]}"
    pushed = json.loads(push.stdout)
    pinned = pushed["pinned"]
    assert pinned == f"{local_registry.host}/wordcount-{engine.name}@{pushed['digest']}"

    # forget the image entirely, then pull it back by digest: the registry really holds it
    engine("rmi", "--force", built["id"])
    assert engine.image_id(built["id"]) is None
    engine("pull", "-q", pinned)
    assert engine.image_id(pinned) == built["id"]

    # 1) a job spec run with --local in the pulled image, as the invoking user
    project = tmp_path / "project"
    write(
        project,
        {
            "data/my words.txt": "the quick brown fox jumps over the lazy dog the end\n",
            "data/b.txt": "one two\n",
            "job.toml": f"""\
                name = "wordcount"
                image = "{pinned}"
                inputs = "data/*.txt"
                command = '''set -e
                python3 /app/worker.py {{input}}
                test "$(command -v python3)" = /opt/venv/bin/python3
                test "$MODE" = local-container
                test -e /run/.containerenv -o -e /.dockerenv'''
                outputs = ["out/*"]
                env = {{ MODE = "local-container" }}
                """,
        },
    )
    result = superbatch(
        "run", "job.toml", "--local", "--engine", engine.name, "--json",
        cwd=project, env=cli_env(engine.cli_vars()),
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr
    job_id = job_id_of(result)
    results = project / "results" / job_id
    by_input = {
        json.loads((results / task / "out" / "task.json").read_text())["inputs"][0]: task
        for task in ("0", "1")
    }
    assert set(by_input) == {"data/my words.txt", "data/b.txt"}  # inputs keep their paths
    task = by_input["data/my words.txt"]
    assert json.loads((results / task / "out" / "my words.json").read_text())["the"] == 3
    assert "data/my words.txt: 11 words" in (results / task / "_logs" / "stdout.txt").read_text()
    info = json.loads((results / task / "out" / "task.json").read_text())
    # the node root is mounted at the same path; the working dir is the task's wd/
    wd = project / ".superbatch" / "node" / "workitems" / job_id / "job-1" / task / "wd"
    assert info["cwd"] == str(wd) == info["batch"]["AZ_BATCH_TASK_WORKING_DIR"]
    assert info["batch"]["AZ_BATCH_TASK_DIR"] == str(wd.parent)
    assert (info["batch"]["AZ_BATCH_JOB_ID"], info["batch"]["AZ_BATCH_TASK_ID"]) == (job_id, task)
    # the image's user is 1000, but the task runs as (and writes as) the task dir's owner
    assert (info["uid"], info["gid"]) == (os.getuid(), os.getgid())
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (wd / "out").iterdir()} == {
        (os.getuid(), os.getgid())
    }
    assert json.loads((results / by_input["data/b.txt"] / "out" / "b.json").read_text()) == {
        "one": 1,
        "two": 1,
    }
    manifest = json.loads((results / "manifest.json").read_text())
    assert [t["state"] for t in manifest["tasks"]] == ["succeeded", "succeeded"]

    # 2) under a uid the image has never heard of (Batch's task user): the code is
    # read-only, HOME is writable, and a missing input fails with the reason on stderr
    probe = engine(
        "run", "--rm", "--user", "4321:4321", "-w", "/tmp", pinned, "/bin/sh", "-c",
        '! touch /app/tamper 2>/dev/null && touch "$HOME/.cache-probe"'
        " && python3 /app/worker.py missing.txt",
        check=False,
    )  # fmt: skip
    assert probe.returncode == 2, probe.stderr
    assert "input missing.txt not found" in probe.stderr
