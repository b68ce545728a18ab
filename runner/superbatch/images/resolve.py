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


def _pinned(name: str) -> ImageRef:
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
    ref = _pinned(name)
    if ref.registry is None:
        ref = ref.with_registry(registry_login_server)
    return str(ref)


def resolve_local_image(name: str) -> str:
    """The reference to run for ``--local``: the name as given, after the same checks.

    Short names are looked up by the engine in its own store, where ``image build`` put
    them (podman keeps them as ``localhost/<name>``, docker as ``<name>``).
    """
    return str(_pinned(name))


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
