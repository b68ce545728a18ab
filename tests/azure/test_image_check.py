"""Before submission the spec's image is looked up in the stack's registry (the fake ACR in
front of a real registry, reached with an Entra token exchange): a missing image fails with
one clear line before any blob or job exists; a present one is pinned by the digest the
registry holds; images of other registries are not checked, and one from Docker Hub gets
one warning naming `superbatch image import`."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from superbatch.errors import SpecError
from tests.azure.conftest import AcrStack, EmulatedStack
from tests.azure.jobs import files_job
from tests.azure.registry_image import push_tiny_image
from tests.images.fake_acr import FakeAcr
from tests.images.fake_arm import FakeArm
from tests.images.local_registry import LocalRegistry
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


def test_an_image_in_the_stack_registry_is_submitted_pinned_by_its_digest(
    tmp_path: Path, acr_stack: AcrStack
) -> None:
    digest = push_tiny_image(acr_stack.upstream, "present", "1a2b3c4d5e6f")
    job = replace(files_job(tmp_path, [b"a"], job_id="known-image"), image="present:1a2b3c4d5e6f")
    acr_stack.stack.emulator.hold = True  # only the submission matters here

    acr_stack.backend().submit(job)

    (task,) = acr_stack.stack.emulator.tasks(job.job_id)
    # what the registry holds, not what a tag may later name
    wanted = f"{acr_stack.acr.login_server}/present@{digest}"
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


class AcrEntraTokens:
    """Entra tokens the fake ACR (and the fake ARM in front of it) accept, for any scope."""

    def __init__(self, acr: FakeAcr) -> None:
        self._acr = acr

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._acr.issue_entra_token(), int(time.time()) + 3600)


def test_a_docker_hub_image_warns_once_and_its_import_runs_from_the_stack_registry(
    tmp_path: Path,
    acr_stack: AcrStack,
    fake_arm: FakeArm,
    hub_registry: LocalRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from superbatch.images.importer import import_image
    from superbatch.images.registry import connect

    hub_digest = push_tiny_image(hub_registry.host, "library/busybox", "1.36-job")
    public = "docker.io/library/busybox:1.36-job"
    job = replace(files_job(tmp_path, [b"a", b"b"], job_id="hub-image"), image=public)
    acr_stack.stack.emulator.hold = True
    with caplog.at_level(logging.WARNING, logger="superbatch"):
        acr_stack.backend().submit(job)
    warnings = [r.getMessage() for r in caplog.records if "Docker Hub" in r.getMessage()]
    assert len(warnings) == 1  # once for the job, not per task
    assert f"`superbatch image import {public} --stack NAME`" in warnings[0]
    assert 'use image = "busybox:1.36-job"' in warnings[0]
    images = {
        t["containerSettings"]["imageName"] for t in acr_stack.stack.emulator.tasks(job.job_id)
    }
    assert images == {public}

    # imported into the stack's registry, the short name resolves there, pinned
    outputs = acr_stack.stack.outputs
    credential = AcrEntraTokens(acr_stack.acr)
    client, _ = connect(outputs.registry_login_server, credential)
    imported = import_image(public, outputs, credential=credential, registry=client)
    assert (imported.image, imported.digest) == ("busybox:1.36-job", hub_digest)
    caplog.clear()
    (tmp_path / "2").mkdir()
    job = replace(files_job(tmp_path / "2", [b"a"], job_id="hub-imported"), image=imported.image)
    with caplog.at_level(logging.WARNING, logger="superbatch"):
        acr_stack.backend().submit(job)
    assert not [r for r in caplog.records if "Docker Hub" in r.getMessage()]
    (task,) = acr_stack.stack.emulator.tasks(job.job_id)
    assert task["containerSettings"]["imageName"] == (
        f"{acr_stack.acr.login_server}/busybox@{hub_digest}"
    )
