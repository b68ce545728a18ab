"""Choosing a backend: the one place that maps --local / --stack / --outputs to a Backend.

:class:`BackendOptions` is the one typed object every command (and the Python API) passes
around instead of the individual flags; :meth:`BackendOptions.open` checks them and builds
the backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superbatch.errors import ConfigError

if TYPE_CHECKING:  # --help imports this module: the model stays out of it
    from superbatch.backend import Backend

NO_BACKEND_MESSAGE = (
    "say where to run: --local (this machine), --stack NAME (Azure Batch, from a Pulumi "
    "stack) or --outputs FILE (Azure Batch, from `pulumi stack output --json`)"
)


@dataclass(frozen=True)
class BackendOptions:
    """Where a job runs, and how the local backend runs it.

    ``local``, ``stack``, ``outputs``: exactly one chooses the backend (``outputs`` also
    comes from ``SUPERBATCH_OUTPUTS`` when none is given). ``parallel``, ``engine``,
    ``container`` and ``home`` only apply to the local backend.
    """

    local: bool = False
    stack: str | None = None
    outputs: Path | None = None
    parallel: int | None = None
    engine: str | None = None
    container: bool = True
    home: Path | None = None

    def resolved(self) -> BackendOptions:
        """These options with ``SUPERBATCH_OUTPUTS`` applied; checked: raises ConfigError."""
        options = self
        if not self.local and self.stack is None and self.outputs is None:
            from superbatch.azure.outputs import OUTPUTS_ENV_VAR

            from_env = os.environ.get(OUTPUTS_ENV_VAR)
            if from_env:
                options = replace(self, outputs=Path(from_env))
        chosen = [
            flag
            for flag, on in (
                ("--local", options.local),
                ("--stack", options.stack is not None),
                ("--outputs", options.outputs is not None),
            )
            if on
        ]
        if not chosen:
            raise ConfigError(NO_BACKEND_MESSAGE)
        if len(chosen) > 1:
            raise ConfigError(f"{' and '.join(chosen)} contradict each other: pick one")
        if not options.local:
            local_only = [
                name
                for name, given in (
                    ("--parallel", options.parallel is not None),
                    ("--engine", options.engine is not None),
                    ("--no-container", not options.container),
                )
                if given
            ]
            if local_only:
                raise ConfigError(f"{', '.join(local_only)} only apply with --local")
        return options

    def open(self) -> Backend:
        """``local`` -> :class:`LocalBackend`; ``stack`` / ``outputs`` -> Azure Batch."""
        options = self.resolved()
        if options.local:
            from superbatch.local import LocalBackend

            return LocalBackend(
                home=options.home,
                parallel=options.parallel,
                engine=options.engine,
                container=options.container,
            )
        from superbatch.azure.backend import AzureBatchBackend

        if options.outputs is not None:
            return AzureBatchBackend.from_outputs_file(options.outputs)
        assert options.stack is not None
        return AzureBatchBackend.from_stack(options.stack)

    def where_args(self) -> list[str]:
        """The command-line options that choose this backend (``--local``, ``--stack X``)."""
        args: list[str] = []
        if self.local:
            args.append("--local")
        if self.stack is not None:
            args += ["--stack", self.stack]
        if self.outputs is not None:
            args += ["--outputs", str(self.outputs)]
        return args

    def run_args(self) -> list[str]:
        """The command-line options of how the local backend runs tasks."""
        args: list[str] = []
        if self.parallel is not None:
            args += ["--parallel", str(self.parallel)]
        if self.engine is not None:
            args += ["--engine", self.engine]
        if not self.container:
            args.append("--no-container")
        return args

    def command(self, *words: str, running: bool = False) -> str:
        """A shell-quoted ``superbatch WORDS... <backend options>`` (for hints)."""
        import shlex

        extra = self.run_args() if running else []
        return shlex.join(["superbatch", *words, *self.where_args(), *extra])


def open_backend(options: BackendOptions | None = None, /, **kwargs: Any) -> Backend:
    """Open the backend ``options`` (or the same fields as keywords) choose.

    ``open_backend(local=True)`` and ``open_backend(BackendOptions(local=True))`` are the
    same. Raises :class:`ConfigError` for a missing or contradictory choice.
    """
    if options is None:
        options = BackendOptions(**kwargs)
    elif kwargs:
        options = replace(options, **kwargs)
    return options.open()
