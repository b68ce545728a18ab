"""What a user may type for JOB: the full id, a unique prefix of it, or ``last``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.errors import JobNotFoundError

if TYPE_CHECKING:
    from superbatch.backend import Backend
    from superbatch.backends import BackendOptions

LAST = "last"
_FULL_ID = re.compile(r"-[0-9a-f]{10}$")  # <name>-<10 hex>: no listing needed
_SHOWN = 5


def resolve_job_id(backend: Backend, text: str) -> str:
    """The job id ``text`` names on ``backend``; one clear JobNotFoundError otherwise.

    ``last`` is the most recent job of this backend run from the current folder (or with
    its spec here), from the per-user job index.
    """
    if text == LAST:
        from superbatch import jobindex

        found = jobindex.last_job(backend.name, Path.cwd())
        if found is None:
            raise JobNotFoundError(
                f"no {backend.name} job was run from {Path.cwd()} yet: give a job id "
                "(`superbatch jobs` lists them)"
            )
        return found
    from superbatch.validate import is_valid_id

    if not is_valid_id(text):  # also keeps a path such as ../.. out of every lookup
        raise JobNotFoundError(f"{text!r} is not a job id (letters, digits, - and _)")
    if _FULL_ID.search(text):
        return text
    ids = backend.job_ids()
    if text in ids:
        return text
    matches = sorted(i for i in ids if i.startswith(text))
    if len(matches) == 1:
        return matches[0]
    if not matches:  # as given: the backend says there is no such job (or what is left)
        return text
    shown = ", ".join(matches[:_SHOWN]) + (", ..." if len(matches) > _SHOWN else "")
    raise JobNotFoundError(f"{text!r} matches {len(matches)} jobs ({shown}): give more of the id")


def index_job(backend: Backend, job_id: str, *, spec: Path, options: BackendOptions) -> None:
    """Record a run in the per-user index (for ``last`` and other folders)."""
    from superbatch import jobindex
    from superbatch.local import LocalBackend

    if isinstance(backend, LocalBackend):
        where = str(backend.state_home(job_id))
    else:
        where = " ".join(options.resolved().where_args())
    jobindex.record(job_id, backend=backend.name, where=where, spec_dir=spec.absolute().parent)
