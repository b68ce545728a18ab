"""An image with an ENTRYPOINT runs a task's command the same way with --local (podman) and
on (emulated) Azure Batch in podman: `/bin/sh -c '<command>'`, the ENTRYPOINT cleared on both
(`--entrypoint=` locally, the task's `containerRunOptions` on Batch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack, timings_shape
from tests.runner.conftest import cli_env, job_id_of, superbatch, write
from tests.support.entrypoint_image import ENTRYPOINT_MARKER, entrypoint_image
from tests.support.podman import PodmanUnavailable


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_an_entrypoint_image_runs_the_command_the_same_locally_and_on_azure(
    tmp_path: Path, stack: EmulatedStack, podman_env: dict[str, str]
) -> None:
    try:
        image = entrypoint_image(podman_env)
    except PodmanUnavailable as exc:
        pytest.fail(str(exc))
    stack.emulator.use_podman(podman_env)
    write(
        tmp_path,
        {
            "data/a.txt": "one two\n",
            "job.toml": f"""\
                name = "entry"
                image = "{image}"
                inputs = "data/*.txt"
                command = "mkdir -p out && wc -w < {{input}} > out/{{stem}}.n && echo ran $((6*7))"
                outputs = ["out/*"]
                """,
        },
    )
    env = cli_env({k: v for k, v in podman_env.items() if k.startswith("CONTAINERS_")})

    local = superbatch(
        "run", "job.toml", "--local", "--engine", "podman", "--json", "--results", "local",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    azure = superbatch(
        "run", "job.toml", "--outputs", str(stack.outputs_file), "--json", "--results", "azure",
        cwd=tmp_path, env=env,
    )  # fmt: skip

    assert local.code == 0, local.stderr
    assert azure.code == 0, azure.stderr
    job_id = job_id_of(azure)
    local_tree, azure_tree = _tree(tmp_path / "local" / job_id), _tree(tmp_path / "azure" / job_id)
    assert (
        json.loads(azure_tree.pop("manifest.json"))["tasks"]
        == json.loads(local_tree.pop("manifest.json"))["tasks"]
    )
    assert timings_shape(azure_tree.pop("timings.json")) == timings_shape(
        local_tree.pop("timings.json")
    )
    assert azure_tree == local_tree
    assert azure_tree["0/out/a.n"].strip() == b"2"
    assert azure_tree["0/_logs/stdout.txt"] == b"ran 42\n"
    assert ENTRYPOINT_MARKER.encode() not in azure_tree["0/_logs/stdout.txt"]
