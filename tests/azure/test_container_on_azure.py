"""A container job on (emulated) Azure Batch: the image named in full (podman's local store,
not the stack's registry, so not looked up there), the inputs prologue and the aggregate's
results/ layout inside a real busybox container (podman), same results and manifest as
``--local --engine podman``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.azure.conftest import EmulatedStack, timings_shape
from tests.runner.conftest import cli_env, job_id_of, superbatch, write


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_container_job_matches_local(
    tmp_path: Path, stack: EmulatedStack, podman_env: dict[str, str], busybox_image: str
) -> None:
    stack.emulator.use_podman(podman_env)
    write(
        tmp_path,
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
                test -e /run/.containerenv && echo in-container > where.txt
                echo "$MODE"'''
                outputs = ["out/*", "where.txt"]
                env = {{ MODE = "container" }}
                [aggregate]
                command = '''cat results/*/out/*.n > all.txt && sh lib/words.sh all.txt
                test -e /run/.containerenv && echo agg-in-container >> all.txt'''
                outputs = ["all.txt"]
                """,
        },
    )
    env = cli_env({k: v for k, v in podman_env.items() if k.startswith("CONTAINERS_")})
    azure_args = ("--outputs", str(stack.outputs_file))

    local = superbatch(
        "run", "job.toml", "--local", "--engine", "podman", "--json", "--results", "local",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    azure = superbatch(
        "run", "job.toml", *azure_args, "--json", "--results", "azure", cwd=tmp_path, env=env
    )

    assert local.code == 0, local.stderr
    assert azure.code == 0, azure.stderr
    job_id = job_id_of(azure)
    local_tree = _tree(tmp_path / "local" / job_id)
    azure_tree = _tree(tmp_path / "azure" / job_id)
    assert timings_shape(azure_tree.pop("timings.json")) == timings_shape(
        local_tree.pop("timings.json")
    )
    assert (
        json.loads(azure_tree.pop("manifest.json"))["tasks"]
        == json.loads(local_tree.pop("manifest.json"))["tasks"]
    )
    assert azure_tree == local_tree
    assert azure_tree["0/where.txt"] == b"in-container\n"
    assert azure_tree["_aggregate/all.txt"] == b"2\n1\nagg-in-container\n"
    wire = stack.emulator.tasks(job_id)[0]["containerSettings"]
    assert wire["imageName"] == busybox_image
