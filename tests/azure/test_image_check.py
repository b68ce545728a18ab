"""Before submission the spec's image is looked up in the stack's registry (the fake ACR in
front of a real registry, reached with an Entra token exchange): a missing image fails with
one clear line before any blob or job exists; images of other registries are not checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from superbatch.errors import SpecError
from tests.azure.conftest import AcrStack, EmulatedStack
from tests.azure.jobs import files_job
from tests.azure.registry_image import push_tiny_image
from tests.runner.conftest import superbatch, write


def _blobs(acr_stack: AcrStack, job_id: str) -> list[str]:
    name = acr_stack.stack.outputs.inputs_container
    container = acr_stack.stack.container(name)
    return [blob.name for blob in container.list_blobs(name_starts_with=f"{job_id}/")]


def test_an_image_missing_from_the_stack_registry_fails_before_anything_remote(
    tmp_path: Path, acr_stack: AcrStack
) -> None:
    job = replace(files_job(tmp_path, [b"a"], job_id="ghost-image"), image="ghost:1a2b3c4d5e6f")

    with pytest.raises(SpecError, match=r"image ghost:1a2b3c4d5e6f is not in registry") as error:
        acr_stack.backend().submit(job)

    assert "superbatch image push" in str(error.value)
    assert job.job_id not in acr_stack.stack.emulator.account.jobs
    assert _blobs(acr_stack, job.job_id) == []
    # the lookup went through the documented ACR token exchange
    paths = [path for _, path, _ in acr_stack.acr.state.calls]
    assert "/oauth2/exchange" in paths


def test_an_image_in_the_stack_registry_is_submitted(tmp_path: Path, acr_stack: AcrStack) -> None:
    push_tiny_image(acr_stack.upstream, "present", "1a2b3c4d5e6f")
    job = replace(files_job(tmp_path, [b"a"], job_id="known-image"), image="present:1a2b3c4d5e6f")
    acr_stack.stack.emulator.hold = True  # only the submission matters here

    acr_stack.backend().submit(job)

    (task,) = acr_stack.stack.emulator.tasks(job.job_id)
    wanted = f"{acr_stack.acr.login_server}/present:1a2b3c4d5e6f"
    assert task["containerSettings"]["imageName"] == wanted


def test_an_image_of_another_registry_is_not_checked(tmp_path: Path, acr_stack: AcrStack) -> None:
    image = "docker.io/library/busybox:1.36"  # never contacted: no network in tests
    job = replace(files_job(tmp_path, [b"a"], job_id="public-image"), image=image)
    acr_stack.stack.emulator.hold = True

    acr_stack.backend().submit(job)

    (task,) = acr_stack.stack.emulator.tasks(job.job_id)
    assert task["containerSettings"]["imageName"] == image


def test_a_job_without_an_image_is_refused_on_azure_before_anything_remote(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    """The stack's pool runs only container tasks: an image-less job would fail on a node with
    ContainerTaskSettingsNotFound minutes later. Refused in one line, nothing uploaded."""
    write(
        tmp_path,
        {
            "data/a.txt": "one\n",
            "job.toml": """\
                name = "bare"
                inputs = "data/*.txt"
                command = "wc -c {input}"
                """,
        },
    )
    run = superbatch("run", "job.toml", "--outputs", str(stack.outputs_file), cwd=tmp_path)

    assert run.code == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "names none" in lines[0] and 'image = "docker.io/library/' in lines[0]
    assert "ContainerTaskSettingsNotFound" not in run.stderr
    assert stack.emulator.account.jobs == {}
    container = stack.container(stack.outputs.inputs_container)
    assert list(container.list_blobs()) == []
    # the same spec still runs locally, on the host
    local = superbatch("run", "job.toml", "--local", cwd=tmp_path)
    assert local.code == 0, local.stderr
