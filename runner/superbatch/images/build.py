"""Building and pushing images with the local engine (docker or podman, same commands)."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from superbatch.engine import Engine
from superbatch.errors import ConfigError, EngineError, RemoteError
from superbatch.images.reference import parse_image_ref
from superbatch.images.registry import RegistryClient
from superbatch.images.tags import CONTENT_LABEL, content_digest, holds_content, tag_of

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
        raise EngineError(f"{what} failed (exit {process.returncode}){detail}")


@dataclass(frozen=True)
class LocalImage:
    image_id: str  # "sha256:..." (docker and podman: the config digest)
    content: str | None  # the CONTENT_LABEL value, None for an image built without it


def inspect_image(engine: Engine, ref: str) -> LocalImage | None:
    """The image ``ref`` names in the engine's own store, or None when it has none."""
    result = subprocess.run(
        engine.command("image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", ref),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    found, _, labels = result.stdout.strip().partition(" ")
    try:
        content = (json.loads(labels) or {}).get(CONTENT_LABEL)
    except (ValueError, AttributeError):
        content = None
    image = found if found.startswith("sha256:") else f"sha256:{found}"
    return LocalImage(image, content if isinstance(content, str) else None)


def image_id(engine: Engine, ref: str) -> str | None:
    found = inspect_image(engine, ref)
    return found.image_id if found else None


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
    """Build ``context`` and tag it ``<name>:<tag>`` (tag: the content tag by default).

    The image records the whole content hash in its :data:`CONTENT_LABEL` label, so a push
    from any machine can tell the same content from other content under one tag.

    A tag is never moved: when ``<name>:<tag>`` already exists and holds other content,
    this raises ``ConfigError`` and leaves it alone; when it holds the same content (a
    rebuild after the engine's cache was cleared), it stays on the image it names.
    """
    context = context.resolve()
    dockerfile = (dockerfile or context / "Dockerfile").resolve()
    build_args = dict(build_args or {})
    content = content_digest(
        context, dockerfile=dockerfile, build_args=build_args, platform=platform
    )
    tag = tag or tag_of(content)
    check_tag(tag)
    name = name or default_name(context)
    ref = str(parse_image_ref(f"{name}:{tag}"))
    before = inspect_image(engine, engine.local_name(ref))
    with tempfile.TemporaryDirectory(prefix="superbatch-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        args = ["build", "--iidfile", str(iidfile), "-f", str(dockerfile)]
        args += ["--label", f"{CONTENT_LABEL}={content}"]
        for key, value in sorted(build_args.items()):
            args += ["--build-arg", f"{key}={value}"]
        if platform:
            args += ["--platform", platform]
        _run(engine, *args, str(context), output=output, what=f"{engine.name} build {context}")
        built = iidfile.read_text().strip()
    built = built if built.startswith("sha256:") else f"sha256:{built}"
    if before is None:
        _run(engine, "tag", built, ref, output=None, what=f"{engine.name} tag {ref}")
        return BuiltImage(ref=ref, image_id=built, created=True)
    if before.image_id != built and not holds_content(before.content, content=content, tag=tag):
        raise ConfigError(
            f"{ref} already names another image ({before.image_id[:19]}); tags are never "
            "moved: choose another --tag or leave it out"
        )
    return BuiltImage(ref=ref, image_id=before.image_id, created=False)


@dataclass(frozen=True)
class PushedImage:
    local_ref: str
    remote_ref: str  # "<registry>/<repo>:<tag>"
    digest: str  # the manifest digest in the registry: what jobs pin
    pushed: bool  # False when the registry already held this tag with the same content

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
    When the tag is already in the registry it must hold the same content: the same image,
    or an image whose :data:`CONTENT_LABEL` equals the local one (the same folder built on
    another machine, or after ``rmi``: builds are not byte-for-byte reproducible). Then
    nothing is pushed and the registry's digest is what jobs pin; otherwise
    ``ConfigError``, and the registry's tag is left alone.
    """
    ref = parse_image_ref(local_ref)
    if ref.tag is None:
        raise ConfigError(f"{local_ref}: give the tag to push (name:tag)")
    check_tag(ref.tag)
    local = inspect_image(engine, engine.local_name(local_ref))
    if local is None:
        raise ConfigError(
            f"image {local_ref} is not in the local {engine.name} store: "
            "run `superbatch image build` first"
        )
    remote = ref.with_registry(login_server)
    remote_ref = f"{login_server}/{ref.repository}:{ref.tag}"
    existing = registry.image(ref.repository, ref.tag)
    if existing is not None:
        # The local id is the config digest (podman, docker's classic store) or the manifest
        # digest (docker's containerd store): either match means the same image.
        same = local.image_id in (*existing.config_digests, existing.digest) or (
            local.content is not None and existing.labels(CONTENT_LABEL) == {local.content}
        )
        if not same:
            raise ConfigError(
                f"{remote_ref} already holds another image in the registry; tags are never "
                "moved: rebuild without --tag (content tag) or choose another tag"
            )
        return PushedImage(local_ref, remote_ref, existing.digest, pushed=False)
    local_id = local.image_id
    _run(engine, "tag", local_id, str(remote), output=None, what=f"{engine.name} tag {remote}")
    _run(engine, "push", str(remote), output=output, what=f"{engine.name} push {remote}")
    digest = registry.manifest_digest(ref.repository, ref.tag)
    if digest is None:
        raise RemoteError(f"{remote_ref} is not in the registry after the push")
    return PushedImage(local_ref, remote_ref, digest, pushed=True)
