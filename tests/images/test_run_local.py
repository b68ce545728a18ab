"""``superbatch run --local --engine ENGINE`` in an image ``superbatch image build`` made, on
podman and on docker (both started by the suite): the node root mounted at the same path,
the task's working dir, the spec's env, the invoking user instead of the image's, outputs
collected, and no container left behind. A small busybox image keeps it fast;
``test_python_worker.py`` runs ``container/`` itself."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from tests.runner.conftest import cli_env, job_id_of, superbatch, write
from tests.support.engines import EngineUnderTest

pytestmark = pytest.mark.container


def test_a_job_runs_in_the_built_image_with_mounts_env_user_and_outputs(
    tmp_path: Path, engine: EngineUnderTest, base_image: str
) -> None:
    context = tmp_path / "image"
    write(
        context,
        {
            # the image's own user is 1000; tasks must run as the task dir's owner anyway
            "Dockerfile": f"FROM {base_image}\nCOPY count.sh /app/count.sh\nUSER 1000:1000\n",
            "count.sh": 'mkdir -p out && wc -w < "$1" | tr -d " " > "out/$2.n"\n',
            ".dockerignore": "notes.md\n",
            "notes.md": uuid.uuid4().hex,  # ignored: not part of the image nor of its tag
        },
    )
    build = CliRunner().invoke(
        image_app, ["build", str(context), "--name", "counter", "--engine", engine.name]
    )
    assert build.exit_code == 0, f"{build.exception!r} {build.stderr}"
    image = build.stdout.strip()

    project = tmp_path / "project"
    write(
        project,
        {
            "data/a b.txt": "one two three\n",
            "data/c.txt": "four\n",
            "job.toml": f"""\
                name = "counter"
                image = "{image}"
                inputs = "data/*.txt"
                command = '''set -e
                sh /app/count.sh {{input}} {{stem}}
                test ! -e /app/notes.md
                test -e /run/.containerenv -o -e /.dockerenv
                echo "$MODE $(id -u):$(id -g) $(pwd)" > out/where.txt'''
                outputs = ["out/*"]
                env = {{ MODE = "in-{engine.name}" }}
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
    manifest = json.loads((results / "manifest.json").read_text())
    assert [t["state"] for t in manifest["tasks"]] == ["succeeded", "succeeded"]
    counts = {}
    for task in ("0", "1"):
        out = results / task / "out"
        (count,) = [p for p in out.iterdir() if p.suffix == ".n"]
        counts[count.stem] = count.read_text().strip()
        mode, user, cwd = (out / "where.txt").read_text().split()
        node = project / ".superbatch" / "node" / "workitems" / job_id / "job-1" / task / "wd"
        # the node root is mounted at the same path, the working dir is the task's
        assert (mode, user, cwd) == (
            f"in-{engine.name}",
            f"{os.getuid()}:{os.getgid()}",
            str(node),
        )
    assert counts == {"a b": "3", "c": "1"}
    leftovers = engine("ps", "-a", "--filter", f"name=sb-{job_id}", "--format", "{{.Names}}")
    assert leftovers.stdout.strip() == ""
