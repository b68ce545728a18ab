"""Every example in examples/, through the real CLI: --outputs (emulated Azure) vs --local.

Also drives the reconnect commands (status, logs, jobs, results, clean) from fresh processes,
as a user would from another terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack, timings_shape
from tests.runner.conftest import cli_env, job_id_of, superbatch
from tests.support.paths import REPO_ROOT

EXAMPLES = sorted(p.name for p in (REPO_ROOT / "examples").iterdir() if (p / "job.toml").is_file())


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_on_azure_matches_local(tmp_path: Path, stack: EmulatedStack, example: str) -> None:
    spec = str(REPO_ROOT / "examples" / example / "job.toml")
    azure_args = ("--outputs", str(stack.outputs_file))

    local = superbatch(
        "run", spec, "--local", "--no-container", "--json", "--results", "local", cwd=tmp_path
    )
    azure = superbatch("run", spec, *azure_args, "--json", "--results", "azure", cwd=tmp_path)

    assert local.code == 0, local.stderr
    assert azure.code == 0, azure.stderr
    job_id = job_id_of(azure)
    assert job_id == job_id_of(local)
    local_tree = _tree(tmp_path / "local" / job_id)
    azure_tree = _tree(tmp_path / "azure" / job_id)
    local_manifest = json.loads(local_tree.pop("manifest.json"))
    azure_manifest = json.loads(azure_tree.pop("manifest.json"))
    # timings differ by nature (when, which node); the same tasks and attempts ran
    local_times, azure_times = local_tree.pop("timings.json"), azure_tree.pop("timings.json")
    assert timings_shape(azure_times) == timings_shape(local_times)
    assert azure_tree == local_tree
    assert {**azure_manifest, "backend": "-"} == {**local_manifest, "backend": "-"}


def test_reconnect_commands_from_another_terminal(tmp_path: Path, stack: EmulatedStack) -> None:
    spec = str(REPO_ROOT / "examples" / "awk" / "job.toml")
    azure_args = ("--outputs", str(stack.outputs_file))
    run = superbatch("run", spec, *azure_args, "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    job_id = job_id_of(run)

    status = superbatch("status", job_id, *azure_args, "--json", cwd=tmp_path)
    logs = superbatch("logs", job_id, "0", *azure_args, cwd=tmp_path)
    jobs = superbatch("jobs", *azure_args, "--json", cwd=tmp_path)
    again = superbatch("results", job_id, *azure_args, "--results", "again", cwd=tmp_path)
    clean = superbatch("clean", job_id, *azure_args, "--yes", cwd=tmp_path)
    gone = superbatch("status", job_id, *azure_args, cwd=tmp_path)

    assert status.code == 0 and status.json()["counts"]["succeeded"] >= 1, status.stderr
    assert logs.code == 0, logs.stderr
    assert job_id in [job["job_id"] for job in jobs.json()]
    assert again.code == 0 and _tree(tmp_path / "again" / job_id) == _tree(
        tmp_path / "results" / job_id
    )
    assert clean.code == 0, clean.stderr
    assert gone.code == 5 and job_id in gone.stderr
    assert (tmp_path / "results" / job_id / "manifest.json").is_file()  # never touched


def test_clean_asks_first(tmp_path: Path, stack: EmulatedStack) -> None:
    spec = str(REPO_ROOT / "examples" / "awk" / "job.toml")
    azure_args = ("--outputs", str(stack.outputs_file))
    job_id = job_id_of(superbatch("run", spec, *azure_args, "--json", cwd=tmp_path))

    refused = superbatch("clean", job_id, *azure_args, cwd=tmp_path)  # no terminal, no --yes

    assert refused.code != 0
    assert superbatch("status", job_id, *azure_args, cwd=tmp_path).code == 0


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_images_name_their_registry(example: str) -> None:
    """A short name (`python:3.12-slim`) means the stack's registry on Azure, where nobody
    pushed it: public images must be named in full so nodes pull them from where they are."""
    from superbatch.images.resolve import resolve_image
    from superbatch.spec import load_spec

    image = load_spec(REPO_ROOT / "examples" / example / "job.toml").image
    assert image is not None
    assert resolve_image(image, "sbstack.azurecr.io") == image


def test_the_local_engine_finds_an_example_image_by_its_full_name(
    tmp_path: Path, podman_env: dict[str, str], busybox_image: str
) -> None:
    from tests.support.podman import podman

    image = "docker.io/library/busybox:1.36"  # what examples/awk names, pulled by Batch nodes
    podman("tag", busybox_image, image, env=podman_env)
    try:
        env = cli_env({k: v for k, v in podman_env.items() if k.startswith("CONTAINERS_")})
        spec = str(REPO_ROOT / "examples" / "awk" / "job.toml")
        run = superbatch("run", spec, "--local", "--engine", "podman", cwd=tmp_path, env=env)
    finally:
        podman("untag", image, image, env=podman_env)
    assert run.code == 0, run.stderr  # --engine podman refuses an image it does not have
