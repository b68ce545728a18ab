"""Output-file patterns with Azure Batch's rules, so local and Azure collect the same files.

Patterns are relative to the task's working dir and use ``/``. ``*`` and ``?`` and
``[...]`` match within one path segment, ``**`` matches any number of directories
(including none). A name starting with ``.`` is only matched by a pattern segment that
itself starts with ``.`` (``.cache/*`` or ``.*``): ``*`` and ``**`` skip dot-files and
dot-directories. Only regular files are collected; symbolic links are not followed. The
working dir's top-level ``_logs`` directory is never collected (the name is reserved for
logs in the results layout).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path

from superbatch.validate import LOGS_DIR

_WILDCARD = re.compile(r"[*?\[]")


def has_wildcard(pattern: str) -> bool:
    return bool(_WILDCARD.search(pattern))


@functools.lru_cache(maxsize=256)
def _segment_regex(segment: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(segment))


def _segment_matches(segment: str, name: str) -> bool:
    if name.startswith(".") and not segment.startswith("."):
        return False
    return bool(_segment_regex(segment).match(name))


def _matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        if _matches(rest, path):
            return True
        return bool(path) and not path[0].startswith(".") and _matches(pattern, path[1:])
    return bool(path) and _segment_matches(head, path[0]) and _matches(rest, path[1:])


def pattern_matches(pattern: str, relative_path: str) -> bool:
    """True when ``relative_path`` (POSIX, relative to the working dir) matches ``pattern``."""
    return _matches(tuple(pattern.split("/")), tuple(relative_path.split("/")))


def match_outputs(root: Path, patterns: Iterable[str]) -> list[str]:
    """Sorted relative POSIX paths of the regular files under ``root`` matching any pattern."""
    patterns = list(patterns)
    found: set[str] = set()
    literal = [p for p in patterns if not has_wildcard(p)]
    wild = [p for p in patterns if has_wildcard(p)]
    for pattern in literal:
        if pattern.split("/")[0] != LOGS_DIR and _is_regular_file(root / pattern):
            found.add(pattern)
    if wild:
        for relative in _walk_files(root):
            if any(pattern_matches(p, relative) for p in wild):
                found.add(relative)
    return sorted(found)


def _is_regular_file(path: Path) -> bool:
    try:
        return path.is_file() and not path.is_symlink()
    except OSError:
        return False


def _walk_files(root: Path) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        relative_dir = os.path.relpath(dirpath, root)
        if relative_dir == ".":
            relative_dir = ""
            dirnames[:] = [d for d in dirnames if d != LOGS_DIR]
        dirnames.sort()
        for filename in sorted(filenames):
            full = os.path.join(dirpath, filename)
            if os.path.isfile(full) and not os.path.islink(full):
                yield f"{relative_dir}/{filename}" if relative_dir else filename
