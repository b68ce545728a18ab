"""Immutable image tags derived from what goes into the build.

Users reported stale images under reused tags (``latest``): Batch nodes cache an image by
its tag, so new code under an old tag may never run. The default tag here is a hash of the
build context as the engine sees it (every file the ``.dockerignore`` rules keep, with its
path, type, executable bit and content), the Dockerfile and the build arguments. Same
content, same tag; any change, a new tag. Nothing else (timestamps, owners, file order on
disk) goes in, so the tag is the same on every machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from superbatch.digest import file_sha256
from superbatch.errors import ConfigError

TAG_LENGTH = 12
_TAG_FORMAT = "sbtag-v1"  # bump when what goes into the hash changes
# The image label ``image build`` records the whole content hash in. Builds are not
# byte-for-byte reproducible (timestamps), so two builds of the same content on two machines
# get two image ids; this label is how a push knows the registry already holds that content.
CONTENT_LABEL = "io.superbatch.content"


@dataclass(frozen=True)
class IgnoreRule:
    pattern: str
    regex: re.Pattern[str]
    exclusion: bool  # a ``!pattern`` line: re-include what earlier lines ignored


def _translate(pattern: str) -> re.Pattern[str]:
    """A ``.dockerignore`` pattern (Go filepath.Match plus ``**``) as an anchored regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # ``**/`` : zero or more directories
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ConfigError(f".dockerignore: unterminated '[' in pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    """Rules in file order; like Docker: comments, blank lines, ``!`` exceptions, ``**``."""
    rules: list[IgnoreRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        pattern = os.path.normpath(line).replace(os.sep, "/").lstrip("/")
        if pattern in ("", "."):
            continue
        rules.append(IgnoreRule(pattern, _translate(pattern), exclusion))
    return rules


def is_ignored(relpath: str, rules: list[IgnoreRule]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = relpath.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.regex.match(candidate) for candidate in candidates):
            ignored = not rule.exclusion
    return ignored


def context_files(context: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every path under ``context`` that the engine would send, sorted, with its lstat."""
    ignore_file = context / ".dockerignore"
    rules = parse_dockerignore(ignore_file.read_text()) if ignore_file.is_file() else []
    prune = not any(rule.exclusion for rule in rules)  # with ``!`` rules, look everywhere
    found: list[tuple[str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(context):
        base = Path(dirpath).relative_to(context).as_posix()
        kept_dirs = []
        for name in sorted(dirnames):
            rel = name if base == "." else f"{base}/{name}"
            ignored = is_ignored(rel, rules)
            if not ignored:
                found.append((rel, (Path(dirpath) / name).lstat()))
            if not (ignored and prune):
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in filenames:
            rel = name if base == "." else f"{base}/{name}"
            if not is_ignored(rel, rules):
                found.append((rel, (Path(dirpath) / name).lstat()))
    yield from sorted(found)


def content_tag(
    context: Path,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> str:
    """The immutable default tag for building ``context`` (12 hex characters): the first
    characters of :func:`content_digest`."""
    return tag_of(
        content_digest(context, dockerfile=dockerfile, build_args=build_args, platform=platform)
    )


def tag_of(content: str) -> str:
    """The content tag of a :func:`content_digest` value."""
    return content.removeprefix("sha256:")[:TAG_LENGTH]


def holds_content(label: str | None, *, content: str, tag: str) -> bool:
    """Whether an image found under ``tag`` with ``label`` (its :data:`CONTENT_LABEL`) holds
    ``content``: its label says so, or it has none (built before labels existed) and ``tag``
    is that content's own tag, which only a build of that content gets by default."""
    return label == content or (label is None and tag == tag_of(content))


def content_digest(
    context: Path,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> str:
    """``sha256:<64 hex>`` of what goes into building ``context`` (the value of
    :data:`CONTENT_LABEL`).

    ``dockerfile`` defaults to ``context/Dockerfile``; it counts even when ``.dockerignore``
    leaves it out (the engine always reads it). Build arguments and the target platform
    count too: the same files on another base image or CPU are another image.
    """
    context = context.resolve()
    if not context.is_dir():
        raise ConfigError(f"build context {context} is not a directory")
    dockerfile = (dockerfile or context / "Dockerfile").resolve()
    if not dockerfile.is_file():
        raise ConfigError(f"no Dockerfile at {dockerfile}")
    digest = hashlib.sha256(_TAG_FORMAT.encode() + b"\0")
    digest.update(b"dockerfile\0" + file_sha256(dockerfile).encode() + b"\0")
    if platform:
        digest.update(f"platform\0{platform}\0".encode())
    for key, value in sorted((build_args or {}).items()):
        digest.update(f"arg\0{key}\0{value}\0".encode())
    for rel, info in context_files(context):
        path = context / rel
        if stat.S_ISLNK(info.st_mode):
            entry = f"link\0{rel}\0{os.readlink(path)}"
        elif stat.S_ISDIR(info.st_mode):
            entry = f"dir\0{rel}"
        elif stat.S_ISREG(info.st_mode):
            executable = "x" if info.st_mode & 0o111 else "-"
            entry = f"file\0{rel}\0{executable}\0{file_sha256(path)}"
        else:
            continue  # sockets, fifos: an engine cannot send them either
        digest.update(entry.encode(errors="surrogateescape") + b"\0")
    return f"sha256:{digest.hexdigest()}"
