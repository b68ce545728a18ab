"""Choosing a backend: the one place that maps --local / --stack / --outputs to a Backend."""

from __future__ import annotations

from pathlib import Path

from superbatch.backend import Backend
from superbatch.errors import ConfigError


def open_backend(
    *,
    local: bool = False,
    stack: str | None = None,
    outputs: Path | None = None,
    parallel: int | None = None,
    engine: str | None = None,
    container: bool = True,
    home: Path | None = None,
) -> Backend:
    """``local`` -> :class:`LocalBackend`; ``stack`` / ``outputs`` -> the Azure Batch backend.

    ``parallel``, ``engine``, ``container`` and ``home`` only apply to the local backend.
    Raises :class:`ConfigError` for a missing or contradictory choice.
    """
    chosen = [
        flag for flag, on in (("--local", local), ("--stack", stack), ("--outputs", outputs)) if on
    ]
    if not chosen:
        raise ConfigError("say where to run: --local (this machine) or --stack NAME (Azure Batch)")
    if local and len(chosen) > 1:
        raise ConfigError(f"{' and '.join(chosen)} contradict each other: pick one")
    if local:
        from superbatch.local import LocalBackend

        return LocalBackend(home=home, parallel=parallel, engine=engine, container=container)
    local_only = [
        name
        for name, given in (
            ("--parallel", parallel is not None),
            ("--engine", engine is not None),
            ("--no-container", not container),
        )
        if given
    ]
    if local_only:
        raise ConfigError(f"{', '.join(local_only)} only apply with --local")
    raise ConfigError("the Azure backend is not in this build yet; use --local")
