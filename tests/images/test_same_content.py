"""The same content pushes from any machine: builds are not byte-for-byte reproducible, so a
second store (a colleague, CI, or this machine after ``rmi``) builds the same folder into a
new image id under the same content tag. The content hash each build records in the image's
labels tells the push that the registry already holds it; a tag that names other content is
still never moved. Through the real ``image`` commands, on podman and on docker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from superbatch.errors import ConfigError
from superbatch.images.resolve import check_image_in_registry
from superbatch.images.tags import CONTENT_LABEL
from tests.images.fake_acr import FakeAcr
from tests.images.local_registry import LocalRegistry
from tests.support.docker import Dockerd
from tests.support.engines import EngineUnderTest, docker_engine, podman_engine

pytestmark = pytest.mark.container


def image(*args: str) -> tuple[int, dict[str, object], str, BaseException | None]:
    """``superbatch image ARGS --json``: exit code, the JSON answer, stderr, the exception."""
    result = CliRunner().invoke(image_app, [*args, "--json"])
    payload = json.loads(result.stdout) if result.exit_code == 0 else {}
    return result.exit_code, payload, result.stderr, result.exception


def project(root: Path, base: str, message: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(f"FROM {base}\nCOPY run.sh /app/run.sh\n")
    (root / "run.sh").write_text(f"echo {message}\n")
    return root


def test_a_rebuild_in_an_emptied_store_pushes_and_pins_the_registry_digest(
    tmp_path: Path,
    engine: EngineUnderTest,
    base_image: str,
    fake_acr: FakeAcr,
    fake_az: str,
) -> None:
    from azure.identity import AzureCliCredential

    registry = fake_acr.login_server
    context = project(tmp_path / "same", base_image, uuid.uuid4().hex)
    code, built, err, error = image("build", str(context), "--engine", engine.name)
    assert code == 0, f"{error!r} {err}"
    labels = engine("image", "inspect", "--format", "{{json .Config.Labels}}", built["id"])
    assert json.loads(labels.stdout)[CONTENT_LABEL].startswith("sha256:")
    code, first, err, error = image(
        "push", str(built["image"]), "--registry", registry, "--engine", engine.name
    )
    assert code == 0 and first["pushed"] is True, f"{error!r} {err}"

    # remove everything local: the local name and the registry name the push tagged
    engine("rmi", engine.local_name(str(built["image"])), str(first["image"]))
    assert engine.image_id(built["id"]) is None  # type: ignore[arg-type]

    code, rebuilt, err, error = image("build", str(context), "--engine", engine.name)
    assert code == 0, f"{error!r} {err}"
    assert rebuilt["image"] == built["image"] and rebuilt["id"] != built["id"]  # new image id

    result = CliRunner().invoke(
        image_app, ["push", str(rebuilt["image"]), "--registry", registry, "--engine", engine.name]
    )
    assert result.exit_code == 0, f"{result.exception!r} {result.stderr}"
    assert "(already in the registry)" in result.stdout
    code, again, _, _ = image(
        "push", str(rebuilt["image"]), "--registry", registry, "--engine", engine.name
    )
    assert again["pushed"] is False
    assert (again["digest"], again["pinned"]) == (first["digest"], first["pinned"])
    # jobs pin what the registry holds, not the local rebuild
    short = str(built["image"])
    assert (
        check_image_in_registry(short, registry, credential=AzureCliCredential())
        == (first["digest"])
    )

    # a truly different image under that same tag is still refused; the registry keeps its own
    engine("rmi", engine.local_name(short))
    other = project(tmp_path / "other", base_image, uuid.uuid4().hex)
    tag = short.split(":")[1]
    code, _, err, error = image(
        "build", str(other), "--name", short.split(":")[0], "--tag", tag, "--engine", engine.name
    )
    assert code == 0, f"{error!r} {err}"
    code, _, _, error = image("push", short, "--registry", registry, "--engine", engine.name)
    assert isinstance(error, ConfigError) and "already holds another image" in str(error)
    digest = check_image_in_registry(short, registry, credential=AzureCliCredential())
    assert digest == first["digest"]


def test_podman_and_docker_builds_of_one_folder_share_the_pushed_image(
    tmp_path: Path,
    images_env: dict[str, str],
    dockerd: Dockerd,
    local_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two independent stores on two engines: the second push finds the first's image."""
    import superbatch.engine

    podman = podman_engine(
        images_env, auth_file=Path(images_env["REGISTRY_AUTH_FILE"]), runroot=tmp_path
    )
    docker = docker_engine(dockerd)
    for key, value in (podman.cli_vars() | docker.cli_vars()).items():
        monkeypatch.setenv(key, value)
    superbatch.engine._working.cache_clear()
    base = podman.busybox()
    assert docker.busybox() == base
    context = project(tmp_path / "shared", base, uuid.uuid4().hex)

    pushed = {}
    for chosen in (podman, docker):
        code, built, err, error = image("build", str(context), "--engine", chosen.name)
        assert code == 0, f"{error!r} {err}"
        code, pushed[chosen.name], err, error = image(
            "push", str(built["image"]), "--registry", local_registry.host,
            "--engine", chosen.name,
        )  # fmt: skip
        assert code == 0, f"{chosen.name}: {error!r} {err}"
    assert pushed["podman"]["pushed"] is True and pushed["docker"]["pushed"] is False
    assert pushed["docker"]["digest"] == pushed["podman"]["digest"]
    ref = str(built["image"])
    assert podman.image_id(podman.local_name(ref)) != docker.image_id(ref)
