"""Container images: build with an immutable content tag, push to the stack's registry
without admin passwords, and resolve the names job specs use.

Import-light on purpose (standard library only): azure-identity is imported inside the
functions that need a credential.
"""

from superbatch.images.build import BuiltImage, PushedImage, build_image, push_image
from superbatch.images.reference import ImageRef, parse_image_ref
from superbatch.images.registry import RegistryClient, connect, engine_login
from superbatch.images.resolve import check_image_in_registry, resolve_image, resolve_local_image
from superbatch.images.tags import content_tag

__all__ = [
    "BuiltImage",
    "ImageRef",
    "PushedImage",
    "RegistryClient",
    "build_image",
    "check_image_in_registry",
    "connect",
    "content_tag",
    "engine_login",
    "parse_image_ref",
    "push_image",
    "resolve_image",
    "resolve_local_image",
]
