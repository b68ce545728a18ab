"""The local results layout and its manifest, identical for every backend.

::

    results/<job>/manifest.json
    results/<job>/<task>/<output path>           outputs, as matched in the working dir
    results/<job>/<task>/_logs/stdout.txt        the task's stdout and stderr
    results/<job>/<task>/_logs/stderr.txt
    results/<job>/_aggregate/...                 the aggregate step, same shape

``manifest.json`` lists, per task, its state, exit code, attempts and every file under its
results dir (outputs and logs) with size and sha256, sorted by path. It holds no timings, so
the same job gives the same manifest locally and on Azure. It is written atomically.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from superbatch.digest import file_sha256
from superbatch.errors import SuperBatchError
from superbatch.model import AGGREGATE_TASK_ID, ResultFile, TaskResult, TaskState
from superbatch.patterns import pattern_matches
from superbatch.validate import LOGS_DIR

MANIFEST_NAME = "manifest.json"


def _file_mode() -> int:
    """The mode ``open()`` gives a new file (0644 under umask 022): temporary files from
    ``mkstemp`` are 0600, and results must not depend on how they were written."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()  # read once, while importing: os.umask is process-wide


def wants_logs(only: tuple[str, ...] | None) -> bool:
    return only is None or any(p.split("/", 1)[0] == LOGS_DIR for p in only)


def selects(path: str, only: tuple[str, ...] | None) -> bool:
    """True when ``results --only`` patterns pick ``path`` (relative to the task's folder).

    No patterns: everything. Logs (``_logs/...``) only when a pattern names ``_logs``.
    """
    if only is None:
        return True
    logs = path.startswith(f"{LOGS_DIR}/")
    return any(
        pattern_matches(p, path) and (not logs or p.split("/", 1)[0] == LOGS_DIR) for p in only
    )


MANIFEST_VERSION = 1
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    job_id: str
    backend: str
    tasks: tuple[TaskResult, ...]
    aggregate: TaskResult | None


def job_results_dir(results_root: Path, job_id: str) -> Path:
    return results_root / job_id


def task_results_dir(results_root: Path, job_id: str, task_id: str) -> Path:
    """``results/<job>/<task>/``; the aggregate step uses task id ``_aggregate``."""
    return results_root / job_id / task_id


def logs_dir(task_dir: Path) -> Path:
    return task_dir / LOGS_DIR


def task_result(
    results_root: Path,
    job_id: str,
    task_id: str,
    *,
    state: TaskState,
    exit_code: int | None,
    attempts: int,
    paths: Iterable[str],
    label: str = "",
) -> TaskResult:
    """A :class:`TaskResult` listing ``paths`` (relative to ``results/<job>/<task>/``, where
    they are) with their sizes and hashes; other files there (the user's) are not listed."""
    task_dir = task_results_dir(results_root, job_id, task_id)
    files = []
    for relative in sorted(paths):
        path = task_dir / relative
        files.append(ResultFile(relative, path.stat().st_size, file_sha256(path)))
    return TaskResult(task_id, state, exit_code, attempts, tuple(files), label)


def same_file(path: str | os.PathLike[str], expected: ResultFile) -> bool:
    """True when ``path`` already holds exactly ``expected`` (size, then sha256)."""
    try:
        if os.stat(path).st_size != expected.size:
            return False
        if expected.size == 0:  # most logs: no need to open the file
            return expected.sha256 == EMPTY_SHA256
        return file_sha256(path) == expected.sha256
    except OSError:
        return False


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same dir and ``os.replace``: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_new(source: str, target: str, expected: ResultFile) -> None:
    """Copy ``source`` to ``target``, a name in a dir we just made (a torn copy is caught by
    the size and hash check on the next placement). Never a hard link: a user editing a
    result in place would change the node's copy too, and the manifest would lie. A file
    recorded as empty is created empty without reading the source (most logs are empty)."""
    if expected.size == 0 and expected.sha256 == EMPTY_SHA256:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666))
    else:
        shutil.copyfile(source, target)


def remove_superseded(dest: Path, previous: Iterable[ResultFile], wanted: set[str]) -> None:
    """Remove the files we placed in ``dest`` before (``previous``, from the last manifest)
    that are not ``wanted`` now: a superseded attempt's. Nothing else is ever touched."""
    for old in previous:
        if old.path not in wanted:
            (dest / old.path).unlink(missing_ok=True)


def _make_dir(path: str) -> bool:
    """Create ``path`` (and its parents); False when it was already there (as a folder)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):  # a file where the folder goes: say so, for that path
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path) from None
        return False
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
    return True


def place_files(
    dest: str | os.PathLike[str],
    files: tuple[ResultFile, ...],
    source: Callable[[str], str],
    *,
    previous: tuple[ResultFile, ...] = (),
) -> None:
    """Make ``dest`` hold ``files`` (known sizes and hashes); ``source(path)`` says where
    each one is now.

    Files already in place with the same size and hash are left alone. Of the files that
    are there but not wanted, only those we placed before (``previous``, from the last
    manifest: a superseded attempt's) are removed; anything else is never touched. Into a
    dest that did not exist yet, files are copied with no checks and no temporary names
    (this runs once per task: paths are strings, every system call counts).
    """
    root = os.fspath(dest)
    fresh = _make_dir(root)
    if not fresh:
        remove_superseded(Path(root), previous, {f.path for f in files})
    made = {""}
    for item in files:
        target = f"{root}/{item.path}"
        if not fresh and same_file(target, item):
            continue
        parent = item.path.rpartition("/")[0]
        if parent not in made:
            _make_dir(f"{root}/{parent}")
            made.add(parent)
        if fresh:
            _copy_new(source(item.path), target, item)
        else:
            atomic_copy(Path(source(item.path)), Path(target))


def task_result_json(result: TaskResult) -> dict[str, Any]:
    """A task's entry in manifest.json; the CLI's ``--json`` prints the same (one function,
    so the two never drift apart)."""
    return {
        "task": result.task_id,
        "label": result.label,
        "state": str(result.state),
        "exit_code": result.exit_code,
        "attempts": result.attempts,
        "files": [_file_json(f) for f in result.files],
    }


def _file_json(item: ResultFile) -> dict[str, Any]:
    if item.url is None:
        return {"path": item.path, "size": item.size, "sha256": item.sha256}
    found = {"path": item.path, "size": item.size, "url": item.url}
    if item.sha256:
        found["sha256"] = item.sha256
    return found


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "job_id": manifest.job_id,
        "backend": manifest.backend,
        "tasks": [task_result_json(t) for t in manifest.tasks],
        "aggregate": task_result_json(manifest.aggregate) if manifest.aggregate else None,
    }


def manifest_text(manifest: Manifest) -> str:
    """``manifest.json``'s text: indented, one line per task (json's C encoder writes each
    line; ``indent=`` would switch to its pure-Python encoder, 10x slower on 1,000 tasks)."""
    data = manifest_json(manifest)
    tasks = ",\n".join(f"    {json.dumps(task)}" for task in data.pop("tasks"))
    aggregate = json.dumps(data.pop("aggregate"))
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in data.items()]
    lines.append(f'  "tasks": [\n{tasks}\n  ],' if tasks else '  "tasks": [],')
    lines.append(f'  "aggregate": {aggregate}')
    return "{\n" + "\n".join(lines) + "\n}\n"


def write_manifest(results_root: Path, manifest: Manifest) -> Path:
    """Write ``results/<job>/manifest.json`` atomically; returns its path."""
    path = job_results_dir(results_root, manifest.job_id) / MANIFEST_NAME
    atomic_write_bytes(path, manifest_text(manifest).encode())
    return path


def _result_from_json(item: dict[str, Any]) -> TaskResult:
    files = tuple(
        ResultFile(f["path"], int(f["size"]), f.get("sha256", ""), f.get("url"))
        for f in item["files"]
    )
    return TaskResult(
        item["task"],
        TaskState(item["state"]),
        item["exit_code"],
        int(item["attempts"]),
        files,
        str(item.get("label", "")),
    )


def previous_files(results_root: Path, job_id: str) -> dict[str, tuple[ResultFile, ...]]:
    """Task id -> files the last ``manifest.json`` of this job listed (empty if none)."""
    path = job_results_dir(results_root, job_id) / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        manifest = read_manifest(path)
    except SuperBatchError:
        return {}
    results = (*manifest.tasks, *([manifest.aggregate] if manifest.aggregate else []))
    # files listed by URL (--no-download) were never placed here: never ours to remove
    return {r.task_id: tuple(f for f in r.files if f.url is None) for r in results}


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tasks = tuple(_result_from_json(t) for t in data["tasks"])
        aggregate = _result_from_json(data["aggregate"]) if data.get("aggregate") else None
        return Manifest(data["job_id"], data["backend"], tasks, aggregate)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SuperBatchError(f"{path}: not a readable SuperBatch manifest: {exc}") from None


__all__ = [
    "AGGREGATE_TASK_ID",
    "MANIFEST_NAME",
    "Manifest",
    "atomic_copy",
    "atomic_write_bytes",
    "file_sha256",
    "job_results_dir",
    "logs_dir",
    "manifest_json",
    "manifest_text",
    "place_files",
    "previous_files",
    "read_manifest",
    "remove_superseded",
    "same_file",
    "selects",
    "task_result_json",
    "task_results_dir",
    "write_manifest",
]
