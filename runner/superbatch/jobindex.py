"""The per-user index of jobs this user started: which backend, where its state lives, and
which folder it was run from.

It lets ``last`` name the most recent job of a folder, and the local backend find a job's
state (``.superbatch/`` of whatever folder it was run in) from any other folder, so a second
``run`` of the same spec elsewhere reconnects instead of running everything again.

One JSON line per ``run``, appended (a torn last line is skipped when read)::

    $SUPERBATCH_INDEX, else $XDG_STATE_HOME/superbatch/jobs.jsonl,
    else ~/.local/state/superbatch/jobs.jsonl
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

INDEX_ENV = "SUPERBATCH_INDEX"


def index_path() -> Path:
    explicit = os.environ.get(INDEX_ENV)
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(state) / "superbatch" / "jobs.jsonl"


@dataclass(frozen=True)
class IndexEntry:
    job_id: str
    backend: str  # "local" | "azure"
    where: str  # local: the state dir (absolute); azure: the stack name or outputs file
    spec_dir: str  # the folder of the spec (absolute)
    cwd: str  # the folder `run` was started in
    time: float


def record(job_id: str, *, backend: str, where: str, spec_dir: Path) -> None:
    """Add one entry; an index that cannot be written is not a reason to stop a run."""
    entry = IndexEntry(job_id, backend, where, str(spec_dir.absolute()), os.getcwd(), time.time())
    path = index_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(entry), separators=(",", ":")) + "\n")
    except OSError:
        import logging

        logging.getLogger("superbatch").warning(
            "could not record job %s in %s: `last` and other folders will not find it",
            job_id,
            path,
        )


def entries() -> list[IndexEntry]:
    """Every entry, oldest first (unreadable lines are skipped)."""
    try:
        text = index_path().read_text(encoding="utf-8")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        try:
            found.append(IndexEntry(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return found


def last_job(backend: str, folder: Path) -> str | None:
    """The most recent job of ``backend`` run from ``folder`` or with its spec there."""
    here = str(folder.absolute())
    for entry in reversed(entries()):
        if entry.backend == backend and here in (entry.spec_dir, entry.cwd):
            return entry.job_id
    return None


def local_homes() -> list[Path]:
    """Every local state dir the index knows, most recently used first, each once."""
    seen: dict[str, None] = {}
    for entry in reversed(entries()):
        if entry.backend == "local":
            seen.setdefault(entry.where, None)
    return [Path(where) for where in seen]
