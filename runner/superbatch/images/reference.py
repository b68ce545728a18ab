"""Image references: ``[registry/]repository[:tag][@sha256:...]``, parsed the way engines do.

The one grammar for the runner and ``infra/`` (the stack config's prefetch list): a first
path part is a registry host when it has a '.', a ':' or is ``localhost`` (hosts are DNS
names, IPv4 or ``[IPv6]`` with an optional port; no '_'); repositories are lowercase.
``Foo/bar:1`` is refused (``Foo`` is no host, so a repository part, which must be
lowercase), ``my_reg.io/a:1`` is refused (a host cannot have '_'), ``[::1]:5000/x:1`` is the
repository ``x`` on the registry ``[::1]:5000``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from superbatch.errors import SpecError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# Docker Hub's names: engines pull "busybox:1" from here; "library/" holds official images.
DOCKER_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}\Z")
_HOST = re.compile(
    r"(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::[0-9]+)?\Z|\[[0-9a-fA-F:]+\](?::[0-9]+)?\Z"
)


@dataclass(frozen=True)
class ImageRef:
    registry: str | None  # "sbdevacr1a2b3c.azurecr.io", "127.0.0.1:5000", or None (short name)
    repository: str  # "wordcount", "team/wordcount"
    tag: str | None
    digest: str | None  # "sha256:..."

    @property
    def reference(self) -> str:
        """The tag or digest to ask a registry for (digest wins when both are given)."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def with_registry(self, registry: str | None) -> ImageRef:
        return ImageRef(registry, self.repository, self.tag, self.digest)

    @property
    def on_docker_hub(self) -> bool:
        return self.registry in DOCKER_HUB_HOSTS


def looks_like_registry(component: str) -> bool:
    """Engines' rule: the first path component is a host when it has '.', ':' or is localhost."""
    return "." in component or ":" in component or component == "localhost"


def parse_image_ref(text: str) -> ImageRef:
    """Parse ``text`` or raise ``SpecError`` with one line saying what is wrong."""
    original = text
    text = text.strip()
    if not text:
        raise SpecError("image name is empty")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise SpecError(f"image {original!r}: digest must look like sha256:<64 hex digits>")
    registry = None
    first, sep, rest = text.partition("/")
    if sep and looks_like_registry(first):
        if not _HOST.match(first):
            raise SpecError(f"image {original!r}: {first!r} is not a valid registry host")
        registry, text = first, rest
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise SpecError(
                f"image {original!r}: tag {tag!r} may use letters, digits, '_', '.', '-' "
                "(at most 128, not starting with '.' or '-')"
            )
    if not _REPOSITORY.match(text):
        raise SpecError(
            f"image {original!r}: repository {text!r} must be lowercase letters, digits and "
            "'.', '_', '-' separators, in '/'-separated parts"
        )
    return ImageRef(registry, text, tag, digest)
