"""The files a job spec stages and where each lands in a task's working dir: inputs (globs,
``az://`` blobs), CSV columns that name files, and shared files.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.errors import SpecError
from superbatch.model import InputFile, RemoteFile, StagedFile
from superbatch.remote import BlobSource, is_az, matching_blobs, one_blob, parse_az

if TYPE_CHECKING:
    from superbatch.spec import JobDraft


def matching_inputs(draft: JobDraft, blobs: BlobSource | None) -> list[StagedFile]:
    found: dict[str, StagedFile] = {}
    for pattern in draft.inputs or []:
        if is_az(pattern):
            assert blobs is not None
            remote = matching_blobs(parse_az(pattern, where=f"{draft.source}: inputs"), blobs)
            if not remote:
                raise SpecError(f"{draft.source}: inputs {pattern!r} matched no blobs")
            for item in remote:
                found.setdefault(item.source, item)
            continue
        for source in _matching_files(draft, pattern):
            found.setdefault(str(source), InputFile(source, staged_name(source, draft.base_dir)))
    return list(found.values())


def row_files(
    draft: JobDraft, taken: set[str], blobs: BlobSource | None
) -> list[dict[str, StagedFile]]:
    """Per row: file column -> the file staged under its own name (one lookup per blob)."""
    rows = draft.rows or []
    where = f"{draft.source}: {draft.rows_source}"
    remote: dict[str, RemoteFile | None] = {}
    names = sorted({row[c] for row in rows for c in draft.files if is_az(row[c])})
    if names:
        assert blobs is not None
        paths = {name: parse_az(name, where=where) for name in names}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            looked_up = pool.map(lambda n: one_blob(paths[n], blobs), names)
            remote = dict(zip(names, looked_up, strict=True))
    staged: list[dict[str, StagedFile]] = []
    for number, row in enumerate(rows, start=1):
        files: dict[str, StagedFile] = {}
        for column in draft.files:
            value = row[column]
            at = f"{where} row {number}, column {column}"
            item: StagedFile
            if is_az(value):
                found = remote.get(value)
                if found is None:
                    raise SpecError(f"{at}: no such blob {value}")
                item = found
            else:
                source = (draft.base_dir / value).resolve() if value else draft.base_dir
                if not value or not source.is_file():
                    raise SpecError(f"{at}: file {value!r} does not exist")
                item = InputFile(source, source.name)
            if item.dest in taken or any(f.dest == item.dest for f in files.values()):
                raise SpecError(f"{at}: two files of this task would both be {item.dest}")
            files[column] = item
        staged.append(files)
    return staged


def _matching_files(draft: JobDraft, pattern: str) -> list[Path]:
    matches = _glob_files(pattern, draft.base_dir)
    if not matches and (draft.base_dir / pattern).is_dir():
        folder = pattern.rstrip("/")
        raise SpecError(
            f"{draft.source}: inputs {pattern!r} is a folder; one task per file in it is "
            f'inputs = "{folder}/*"'
        )
    if not matches:
        raise SpecError(f"{draft.source}: inputs {pattern!r} matched no files")
    return matches


def _glob_files(pattern: str, base_dir: Path) -> list[Path]:
    """Regular files matching ``pattern`` (relative to ``base_dir``; ``**`` recurses), sorted."""
    full = pattern if os.path.isabs(pattern) else os.path.join(base_dir, pattern)
    matches = sorted(Path(m) for m in glob.glob(full, recursive=True) if os.path.isfile(m))
    return [m.resolve() for m in matches]


def shared_files(draft: JobDraft) -> list[InputFile]:
    files: dict[str, InputFile] = {}
    for item in draft.shared:
        for source in _shared_sources(item, draft):
            dest = staged_name(source, draft.base_dir)
            if dest in files and files[dest].source != source:
                raise SpecError(f"{draft.source}: two shared files would both land at {dest}")
            files[dest] = InputFile(source, dest)
    return list(files.values())


def _shared_sources(item: str, draft: JobDraft) -> list[Path]:
    """One shared entry: a file, or a glob (``lib/**/*`` shares a folder's files)."""
    if any(c in item for c in "*?["):
        matches = _glob_files(item, draft.base_dir)
        if not matches:
            raise SpecError(f"{draft.source}: shared {item!r} matched no files")
        return matches
    source = (draft.base_dir / item).resolve()
    if source.is_dir():
        folder = item.rstrip("/")
        raise SpecError(
            f"{draft.source}: shared {item} is a folder; share the files in it with a glob: "
            f'shared = ["{folder}/**/*"]'
        )
    if not source.is_file():
        raise SpecError(f"{draft.source}: shared file {item} does not exist")
    return [source]


def staged_name(source: Path, base_dir: Path) -> str:
    """Path in the working dir: as written relative to the spec, else the bare file name."""
    try:
        return source.relative_to(base_dir).as_posix()
    except ValueError:
        return source.name
