"""``superbatch image import``: a public image copied into the stack's registry by ARM's
importImage (the fake ARM really copies, from a registry standing in for Docker Hub into
the registry behind the fake ACR), pinned by the digest the stack's registry then holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from superbatch.contract import OPTIONAL_OUTPUTS, OUTPUT_NAMES
from superbatch.errors import ConfigError, SpecError
from tests.azure.registry_image import push_tiny_image
from tests.images.fake_acr import FakeAcr
from tests.images.fake_arm import FakeArm
from tests.images.local_registry import LocalRegistry

SUBSCRIPTION = "6c1f4a2e-0000-4000-8000-0000000000ab"
IDENTITY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sb-dev/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/sb-dev-nodes"
)


def outputs_file(tmp_path: Path, login_server: str) -> Path:
    outputs = {name: f"value-{name}" for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS} | {
        "registry_login_server": login_server,
        "node_identity_resource_id": IDENTITY,
        "resource_group": "sb-dev",
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(image_app, list(args))
    return result.exit_code, result.stdout, result.exception


@pytest.mark.parametrize("async_operation", [False, True], ids=["location", "async-operation"])
def test_a_docker_hub_image_is_imported_once_and_pinned_by_digest(
    tmp_path: Path,
    fake_acr: FakeAcr,
    fake_arm: FakeArm,
    fake_az: str,
    hub_registry: LocalRegistry,
    async_operation: bool,
) -> None:
    fake_arm.state.async_operation = async_operation
    tag = "1.36-" + ("async" if async_operation else "location")  # one new tag per case
    hub_digest = push_tiny_image(hub_registry.host, "library/busybox", tag)
    outputs = outputs_file(tmp_path, fake_acr.login_server)

    code, out, error = invoke(
        "import", f"docker.io/library/busybox:{tag}", "--outputs", str(outputs), "--json"
    )
    assert code == 0, repr(error)
    imported = json.loads(out)
    assert imported == {
        "source": f"docker.io/library/busybox:{tag}",
        "image": f"busybox:{tag}",  # the short name for job specs: the stack's registry
        "digest": hub_digest,  # copied byte for byte: the same manifest
        "pinned": f"{fake_acr.login_server}/busybox@{hub_digest}",
        "imported": True,
    }
    # the documented request, on the registry named by the stack outputs
    ((_, path, body),) = [c for c in fake_arm.state.calls if c[0] == "POST"]
    assert path == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sb-dev/providers/"
        f"Microsoft.ContainerRegistry/registries/{fake_arm.state.registry_name}"
        "/importImage?api-version=2023-07-01"
    )
    assert body == {
        "source": {"registryUri": "docker.io", "sourceImage": f"library/busybox:{tag}"},
        "targetTags": [f"busybox:{tag}"],
        "mode": "NoForce",
    }
    assert any(method == "GET" for method, _, _ in fake_arm.state.calls)  # it was followed

    # again: the tag is there already, nothing is imported, the same digest is pinned
    calls = len(fake_arm.state.calls)
    code, out, error = invoke("import", f"docker.io/busybox:{tag}", "--outputs", str(outputs))
    assert code == 0, repr(error)
    assert out.splitlines() == [
        f"busybox:{tag} (already in the registry)",
        f"{fake_acr.login_server}/busybox@{hub_digest}",
    ]
    assert len(fake_arm.state.calls) == calls


def test_without_the_importer_role_the_import_is_refused_in_one_line(
    tmp_path: Path, fake_acr: FakeAcr, fake_arm: FakeArm, fake_az: str, hub_registry: LocalRegistry
) -> None:
    push_tiny_image(hub_registry.host, "library/alpine", "3.20")
    fake_arm.state.granted = False
    outputs = outputs_file(tmp_path, fake_acr.login_server)
    _, _, error = invoke("import", "docker.io/library/alpine:3.20", "--outputs", str(outputs))
    assert isinstance(error, ConfigError) and error.exit_code == 3, repr(error)
    message = str(error)
    assert "AuthorizationFailed" in message
    assert "'Container Registry Data Importer and Data Reader' role" in message
    assert "\n" not in message and fake_az not in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["busybox:1.36"], "say which registry to import from, e.g. docker.io/library/busybox"),
        (["docker.io/library/busybox"], "give a tag or a digest"),
        (["docker.io/library/busybox:1.36", "--as", "busybox:latest"], "moving tag"),
        (["docker.io/library/busybox:1.36", "--as", "other.io/x:1"], "give a short name"),
        (["Docker.io/Busybox:1"], "must be lowercase"),
    ],
)
def test_bad_references_are_refused_before_anything(
    tmp_path: Path, fake_acr: FakeAcr, fake_arm: FakeArm, args: list[str], expected: str
) -> None:
    outputs = outputs_file(tmp_path, fake_acr.login_server)
    _, _, error = invoke("import", *args, "--outputs", str(outputs))
    assert isinstance(error, SpecError) and expected in str(error), error
    assert fake_arm.state.calls == []
