"""SuperBatch: run the same job spec on this machine or on Azure Batch.

Names are imported lazily, so ``import superbatch`` (and ``superbatch --help``) stays fast
and never pulls in rich, typer or the Azure SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from superbatch.backends import BackendOptions, open_backend
    from superbatch.job import Job, Run
    from superbatch.local import LocalBackend
    from superbatch.run import RunOutcome, run_job
    from superbatch.spec import load_spec

_EXPORTS = {
    "Job": "superbatch.job",
    "Run": "superbatch.job",
    "LocalBackend": "superbatch.local",
    "load_spec": "superbatch.spec",
    "run_job": "superbatch.run",
    "RunOutcome": "superbatch.run",
    "open_backend": "superbatch.backends",
    "BackendOptions": "superbatch.backends",
}

__all__ = [
    "BackendOptions",
    "Job",
    "LocalBackend",
    "Run",
    "RunOutcome",
    "load_spec",
    "open_backend",
    "run_job",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'superbatch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
