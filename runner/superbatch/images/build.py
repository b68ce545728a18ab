"""Building and pushing images with the local engine (docker or podman, same commands)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from superbatch.engine import Engine
from superbatch.errors import ConfigError, RemoteError
from superbatch.images.reference import parse_image_ref
from superbatch.images.registry import RegistryClient
from superbatch.images.tags import content_tag

MOVING_TAGS = frozenset({"latest"})


@dataclass(frozen=True)
class BuiltImage:
    ref: str  # "wordcount:1a2b3c4d5e6f": what a job spec's ``image`` names
    image_id: str  # "sha256:...": the image config digest, the same after a push
    created: bool  # False when that tag already held exactly this image


def default_context(cwd: Path) -> Path:
    """``container/`` when the project has one (the design's layout), else the folder itself."""
    candidate = cwd / "container"
    return candidate if (candidate / "Dockerfile").is_file() else cwd


def default_name(context: Path) -> str:
    """A repository name from the folder: lowercase, runs of other characters become '-'."""
    folder = context.resolve()
    if folder.name == "container" and folder.parent.name:
        folder = folder.parent  # <project>/container -> the project's name
    name = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
    return name or "image"


def check_tag(tag: str) -> None:
    if tag in MOVING_TAGS:
        raise ConfigError(
            f"tag {tag!r} moves with every build and nodes cache images by tag; "
            "leave --tag out for an immutable tag derived from the content"
        )
    parse_image_ref(f"x:{tag}")  # raises SpecError for a malformed tag


def _run(engine: Engine, *args: str, output: IO[str] | None, what: str) -> None:
    """Run the engine; its progress lines go to ``output`` as they come (if given), and the
    last few are kept for the error message."""
    tail: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        engine.command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if output is not None:
                output.write(line)
                output.flush()
            if line.strip():
                tail.append(line.strip())
    if process.returncode != 0:
        detail = ": " + " | ".join(tail) if tail else ""
        raise RemoteError(f"{what} failed (exit {process.returncode}){detail}")


def image_id(engine: Engine, ref: str) -> str | None:
    result = subprocess.run(
        engine.command("image", "inspect", "--format", "{{.Id}}", ref),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    found = result.stdout.strip()
    return found if found.startswith("sha256:") else f"sha256:{found}"


def build_image(
    engine: Engine,
    context: Path,
    *,
    name: str | None = None,
    tag: str | None = None,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
    output: IO[str] | None = None,
) -> BuiltImage:
    """Build ``context`` and tag it ``<name>:<tag>`` (tag: :func:`content_tag` by default).

    A tag is never moved: when ``<name>:<tag>`` already exists and holds a different image,
    this raises ``ConfigError`` and leaves it alone.
    """
    context = context.resolve()
    dockerfile = (dockerfile or context / "Dockerfile").resolve()
    build_args = dict(build_args or {})
    tag = tag or content_tag(
        context, dockerfile=dockerfile, build_args=build_args, platform=platform
    )
    check_tag(tag)
    name = name or default_name(context)
    ref = str(parse_image_ref(f"{name}:{tag}"))
    before = image_id(engine, ref)
    with tempfile.TemporaryDirectory(prefix="superbatch-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        args = ["build", "--iidfile", str(iidfile), "-f", str(dockerfile)]
        for key, value in sorted(build_args.items()):
            args += ["--build-arg", f"{key}={value}"]
        if platform:
            args += ["--platform", platform]
        _run(engine, *args, str(context), output=output, what=f"{engine.name} build {context}")
        built = iidfile.read_text().strip()
    built = built if built.startswith("sha256:") else f"sha256:{built}"
    if before is not None and before != built:
        raise ConfigError(
            f"{ref} already names another image ({before[:19]}); tags are never moved: "
            "choose another --tag or leave it out"
        )
    if before is None:
        _run(engine, "tag", built, ref, output=None, what=f"{engine.name} tag {ref}")
    return BuiltImage(ref=ref, image_id=built, created=before is None)


@dataclass(frozen=True)
class PushedImage:
    local_ref: str
    remote_ref: str  # "<registry>/<repo>:<tag>"
    digest: str  # the manifest digest in the registry
    pushed: bool  # False when the registry already held this tag with the same image

    @property
    def pinned_ref(self) -> str:
        """``<registry>/<repo>@sha256:...``: what never changes."""
        return f"{self.remote_ref.rsplit(':', 1)[0]}@{self.digest}"


def push_image(
    engine: Engine,
    local_ref: str,
    login_server: str,
    *,
    registry: RegistryClient,
    output: IO[str] | None = None,
) -> PushedImage:
    """Push ``local_ref`` to ``login_server`` under the same repository and tag.

    ``registry`` is a client for that server (:func:`superbatch.images.registry.connect`).
    When the tag is already in the registry it must hold the same image (same config
    digest): then nothing is pushed; otherwise ``ConfigError``, and the registry's tag is
    left alone.
    """
    ref = parse_image_ref(local_ref)
    if ref.tag is None:
        raise ConfigError(f"{local_ref}: give the tag to push (name:tag)")
    check_tag(ref.tag)
    local_id = image_id(engine, local_ref)
    if local_id is None:
        raise ConfigError(
            f"image {local_ref} is not in the local {engine.name} store: "
            "run `superbatch image build` first"
        )
    remote = ref.with_registry(login_server)
    remote_ref = f"{login_server}/{ref.repository}:{ref.tag}"
    existing = registry.manifest(ref.repository, ref.tag)
    if existing is not None:
        digest = registry.manifest_digest(ref.repository, ref.tag)
        # The local id is the config digest (podman, docker's classic store) or the manifest
        # digest (docker's containerd store): either match means the same image.
        same = local_id in ((existing.get("config") or {}).get("digest"), digest)
        if not same or digest is None:
            raise ConfigError(
                f"{remote_ref} already holds another image in the registry; tags are never "
                "moved: rebuild without --tag (content tag) or choose another tag"
            )
        return PushedImage(local_ref, remote_ref, digest, pushed=False)
    _run(engine, "tag", local_id, str(remote), output=None, what=f"{engine.name} tag {remote}")
    _run(engine, "push", str(remote), output=output, what=f"{engine.name} push {remote}")
    digest = registry.manifest_digest(ref.repository, ref.tag)
    if digest is None:
        raise RemoteError(f"{remote_ref} is not in the registry after the push")
    return PushedImage(local_ref, remote_ref, digest, pushed=True)
