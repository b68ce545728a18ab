"""Image names in job specs: short names resolve to the stack's registry or the local store.

``image = "wordcount:1a2b3c4d5e6f"`` in a spec means the image that ``superbatch image build``
made from the user's folder; on Azure that is ``<stack registry>/wordcount:1a2b3c4d5e6f``,
and under ``--local`` the same name in the engine's own image store. A full reference
(``myregistry.azurecr.io/x:1``, ``ghcr.io/org/x@sha256:...``) is used as given everywhere.

A name without a tag or digest is refused: it would mean ``latest``, a moving tag, and Batch
nodes keep cached images by tag, so new code could silently never run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from superbatch.errors import SpecError
from superbatch.images.reference import ImageRef, parse_image_ref

if TYPE_CHECKING:  # --local only resolves names: the registry client stays unloaded
    from superbatch.images.tokens import TokenCredential


def require_tag(name: str) -> ImageRef:
    """``name`` parsed, with a tag that is not ``latest`` or a digest; else ``SpecError``."""
    ref = parse_image_ref(name)
    if ref.tag is None and ref.digest is None:
        raise SpecError(
            f"image {name!r} has no tag: give the immutable tag `superbatch image build` "
            "printed (e.g. name:1a2b3c4d5e6f) or a digest (name@sha256:...)"
        )
    if ref.tag == "latest" and ref.digest is None:
        raise SpecError(
            f"image {name!r}: 'latest' is a moving tag and nodes cache images by tag; "
            "use the immutable tag `superbatch image build` printed"
        )
    return ref


def resolve_image(name: str, registry_login_server: str) -> str:
    """The full reference Batch should pull for the spec's ``image`` (Azure runs).

    ``wordcount:1a2b`` -> ``<registry_login_server>/wordcount:1a2b``; a reference that
    already names a registry is returned as given (normalized). Raises ``SpecError``.
    """
    ref = require_tag(name)
    if ref.registry is None:
        ref = ref.with_registry(registry_login_server)
    return str(ref)


def pinned_image(name: str, registry_login_server: str, digest: str) -> str:
    """``<registry>/<repo>@<digest>``: what Batch pulls for a spec's ``image`` once the
    stack's registry said which manifest its tag names (tags are never moved, and a digest
    cannot be)."""
    ref = parse_image_ref(resolve_image(name, registry_login_server))
    return str(ImageRef(ref.registry, ref.repository, None, digest))


def stack_short_name(ref: ImageRef) -> ImageRef:
    """The name an image from another registry gets in the stack's registry (``image
    import``): its repository and tag, without Docker Hub's ``library/`` of official images
    (``docker.io/library/busybox:1.36`` -> ``busybox:1.36``)."""
    repository = ref.repository
    if ref.on_docker_hub and repository.startswith("library/"):
        repository = repository.removeprefix("library/")
    return ImageRef(None, repository, ref.tag, ref.digest)


def docker_hub_warning(name: str) -> str | None:
    """The one warning for a job whose image comes from Docker Hub (None otherwise)."""
    ref = parse_image_ref(name)
    if not ref.on_docker_hub:
        return None
    short = stack_short_name(ref)
    return (
        f"image {name} comes from Docker Hub: every node pulls it from there, and Docker Hub "
        "limits anonymous pulls; copy it into the stack's registry once with "
        f'`superbatch image import {name} --stack NAME` and use image = "{short}"'
    )


def resolve_local_image(name: str) -> str:
    """The reference to run for ``--local``: the name as given, after the same checks.

    Short names are looked up by the engine in its own store, where ``image build`` put
    them (podman keeps them as ``localhost/<name>``, docker as ``<name>``).
    """
    return str(require_tag(name))


def check_image_in_registry(
    image: str, registry_login_server: str, *, credential: TokenCredential | None
) -> str | None:
    """Fail before submission when the spec's image is not in the stack's registry.

    Resolves ``image`` with :func:`resolve_image`; for an image in the stack's registry,
    ``HEAD /v2/<repo>/manifests/<tag>`` with a registry token from the documented ACR
    exchange (``credential``: an azure-identity credential) and returns the manifest digest.
    Raises ``SpecError`` naming the push command when it is missing. Images in other
    registries are not checked (None): their credentials are not the stack's.
    """
    full = parse_image_ref(resolve_image(image, registry_login_server))
    if full.registry != registry_login_server:
        return None
    from superbatch.images.registry import connect

    client, _ = connect(registry_login_server, credential)
    digest = client.manifest_digest(full.repository, full.reference)
    if digest is None:
        raise SpecError(
            f"image {image} is not in registry {registry_login_server}: "
            f"run `superbatch image push` for it first (looked for {full})"
        )
    return digest
