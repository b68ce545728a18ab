"""Checking, before anything is submitted, that the folders a command will write can be made.

A bad ``--results`` used to surface only after every task had run (and as a traceback);
checking first turns it into one line and nothing created.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from superbatch.errors import ConfigError


def check_writable_folder(path: Path, *, what: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` is, or can become, a folder we can write in.

    ``what`` names the folder in the message, e.g. ``"--results results/job-1"``. Nothing
    is left behind: writability is probed with a temporary folder that is removed again.
    """
    target = path.absolute()
    existing = target
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if not existing.is_dir():
        noun = "a file" if existing.exists() else "a broken symbolic link"
        if existing == target:
            raise ConfigError(f"{what}: is {noun}, not a folder")
        raise ConfigError(f"{what}: cannot be created: {existing} is {noun}")
    try:
        probe = tempfile.mkdtemp(prefix=".superbatch-probe-", dir=existing)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{what}: cannot create folders in {existing} ({reason})") from None
    os.rmdir(probe)
