"""Job specs: TOML (or the Python API) -> a validated :class:`ResolvedJob`.

Two steps. :func:`parse_spec` reads a TOML file into a :class:`JobDraft` (types and keys
checked by :func:`parse_table`); :class:`superbatch.Job` hands its keywords to the same
:func:`parse_table`, so both accept exactly the same keys and values. :func:`resolve` then
checks everything that needs the file system (globs, CSV rows, shared files: found by
:mod:`superbatch.inputs`), fills the placeholders and computes the job id. Nothing is
created and nothing runs before :func:`resolve` returns.
"""

from __future__ import annotations

import csv
import hashlib
import json
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from superbatch.digest import file_sha256
from superbatch.errors import SpecError
from superbatch.inputs import matching_inputs, row_files, shared_files
from superbatch.model import (
    MAX_LABEL_LENGTH,
    AggregateSpec,
    InputFile,
    RemoteFile,
    ResolvedJob,
    StagedFile,
    TaskSpec,
    row_label,
)
from superbatch.placeholders import check_placeholders, render
from superbatch.policy import (
    POLICY_KEYS,
    FailurePolicy,
    parse_allow_failures,
    parse_policy,
)
from superbatch.remote import BlobSource, is_az
from superbatch.validate import (
    JOB_HASH_LENGTH,
    check_env,
    check_env_name,
    check_name,
    check_output_pattern,
    check_pool,
    check_retries,
    check_slots,
    check_string_list,
    format_duration,
    parse_duration,
)

INPUT_PLACEHOLDERS = ("input", "name", "stem", "index")
ROW_RESERVED = ("input", "index")  # CSV columns that would shadow a placeholder
# Every task also gets its placeholders' values as environment variables: "$SUPERBATCH_INPUT"
# is a safe form anywhere in a command (CSV columns are variables under their own names).
TASK_ENV_PREFIX = "SUPERBATCH_"
TASK_ENV = {name: f"{TASK_ENV_PREFIX}{name.upper()}" for name in INPUT_PLACEHOLDERS}
# Variables a task needs from its shell or system: a CSV column must not replace them.
SHADOWED_ENV = frozenset(
    (
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "IFS", "ENV", "CDPATH",
        "PS1", "PS2", "PS4", "PPID", "OPTIND", "OPTARG", "LINENO", "HOSTNAME", "TERM",
        "TMPDIR", "TZ", "LANG", "LANGUAGE", "LD_LIBRARY_PATH", "LD_PRELOAD",
        "PYTHONPATH", "PYTHONHOME",
    )
)  # fmt: skip
TOP_KEYS = (
    "name", "image", "command", "inputs", "tasks", "files", "shared", "outputs",
    "retries", "timeout", "env", "aggregate", *POLICY_KEYS, "pool", "slots",
)  # fmt: skip
AGGREGATE_KEYS = ("command", "outputs", "allow_failures")


@dataclass
class JobDraft:
    """An unresolved job: what a TOML spec or the Python API describes."""

    name: str
    command: str
    base_dir: Path  # relative paths (globs, CSV, shared) are relative to this
    source: str  # how messages name the spec, e.g. "job.toml"
    image: str | None = None
    inputs: list[str] | None = None  # globs: one task per matching file ...
    rows: list[dict[str, str]] | None = None  # ... or one task per row
    rows_source: str = "tasks"
    files: list[str] = field(default_factory=list)  # CSV columns that name files to stage
    shared: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    timeout: timedelta | None = None
    aggregate: AggregateSpec | None = None
    pool: str | None = None  # None: the stack's pool "default"
    slots: int = 1
    policy: FailurePolicy = field(default_factory=FailurePolicy)


def load_spec(path: Path, *, new: bool = False, blobs: BlobSource | None = None) -> ResolvedJob:
    """Read, validate and resolve the TOML job spec at ``path``."""
    return resolve(parse_spec(path), new=new, blobs=blobs)


def needs_storage(draft: JobDraft) -> bool:
    """True when resolving ``draft`` reads Azure Storage (``az://`` inputs or file columns)."""
    if any(is_az(pattern) for pattern in draft.inputs or []):
        return True
    return any(is_az(row[column]) for row in draft.rows or [] for column in draft.files)


def parse_spec(path: Path) -> JobDraft:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{where}: no such job spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{where}: is a directory, not a job spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from None
    return parse_table(data, base_dir=path.resolve().parent, where=where)


def parse_table(
    data: dict[str, Any], *, base_dir: Path, where: str, rows_later: bool = False
) -> JobDraft:
    """Check every key of a job spec: a TOML file's table, or the Python API's keywords.

    The one validator of both. ``rows_later``: the tasks may still come as rows
    (``Job.add_tasks``), so neither ``inputs`` nor ``tasks`` is required yet, and ``files``
    is checked against the rows once they are there (:func:`check_file_columns`).
    """
    _check_keys(data, TOP_KEYS, where=where)
    for key in ("name", "command"):
        if key not in data:
            raise SpecError(f"{where}: missing required key {key!r}")
    command = _command(data["command"], where=where)
    draft = JobDraft(
        name=check_name(data["name"], where=where),
        command=command,
        base_dir=base_dir,
        source=where,
    )
    if "image" in data:
        draft.image = _image(data["image"], where=where)
    if "inputs" in data and "tasks" in data:
        raise SpecError(f"{where}: give either inputs (files) or tasks (a CSV file), not both")
    if "inputs" in data:
        draft.inputs = check_string_list(data["inputs"], key="inputs", where=where)
    elif "tasks" in data:
        if not isinstance(data["tasks"], str) or not data["tasks"]:
            raise SpecError(f"{where}: tasks must be the path of a CSV file")
        draft.rows = read_csv_rows(draft.base_dir / data["tasks"], where=where)
        draft.rows_source = data["tasks"]
    elif not rows_later:
        raise SpecError(
            f'{where}: say what the tasks are: inputs = "data/*.txt" (one task per file) '
            'or tasks = "params.csv" (one task per row)'
        )
    if "files" in data and rows_later and draft.inputs is None and draft.rows is None:
        draft.files = check_string_list(data["files"], key="files", where=where)  # rows later
    elif "files" in data:
        draft.files = check_file_columns(data["files"], draft.rows, where=where)
    if "shared" in data:
        draft.shared = check_string_list(data["shared"], key="shared", where=where)
    if "outputs" in data:
        outputs = check_string_list(data["outputs"], key="outputs", where=where)
        draft.outputs = [check_output_pattern(p, where=where) for p in outputs]
    if "retries" in data:
        draft.retries = check_retries(data["retries"], where=where)
    if "timeout" in data:
        draft.timeout = parse_duration(data["timeout"], where=where)
    if "env" in data:
        draft.env = check_env(data["env"], where=where)
    if "aggregate" in data:
        draft.aggregate = parse_aggregate(data["aggregate"], where=f"{where} [aggregate]")
    draft.policy = parse_policy(data, retries=draft.retries, where=where)
    if "pool" in data:
        draft.pool = check_pool(data["pool"], where=where)
    if "slots" in data:
        draft.slots = check_slots(data["slots"], where=where)
    return draft


def parse_aggregate(value: object, *, where: str) -> AggregateSpec:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: must be a table with command and outputs")
    _check_keys(value, AGGREGATE_KEYS, where=where)
    if "command" not in value:
        raise SpecError(f"{where}: missing required key 'command'")
    command = _command(value["command"], where=where)
    check_placeholders(command, (), where=where)
    outputs = check_string_list(value.get("outputs", []), key="outputs", where=where)
    allow = parse_allow_failures(value.get("allow_failures", False), where=where)
    return AggregateSpec(
        command, tuple(check_output_pattern(p, where=where) for p in outputs), allow
    )


def check_file_columns(
    value: object, rows: list[dict[str, str]] | None, *, where: str
) -> list[str]:
    """``files = ["left", "right"]``: CSV columns whose values are files to stage."""
    columns = check_string_list(value, key="files", where=where)
    if rows is None:
        raise SpecError(f'{where}: files names CSV columns: it needs tasks = "rows.csv"')
    known = list(rows[0]) if rows else []
    for column in columns:
        if column not in known:
            raise SpecError(
                f"{where}: files column {column!r} is not in the tasks file "
                f"(columns: {', '.join(known)})"
            )
    if len(set(columns)) != len(columns):
        raise SpecError(f"{where}: files names a column twice")
    return columns


def read_csv_rows(path: Path, *, where: str) -> list[dict[str, str]]:
    """One dict per row of a CSV file (a ``.tsv`` file is read as tab-separated)."""
    name = path.name
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            rows = [(reader.line_num, row) for row in reader if row]
    except FileNotFoundError:
        raise SpecError(f"{where}: tasks file {name} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(f"{where}: cannot read tasks file {name}: {exc}") from None
    if not header:
        raise SpecError(f"{where}: tasks file {name} is empty; it needs a header row")
    columns = check_row_columns([c.strip() for c in header], where=f"{where}: tasks file {name}")
    if not rows:
        raise SpecError(f"{where}: tasks file {name} has a header but no rows")
    result = []
    for line, row in rows:
        if len(row) != len(columns):
            raise SpecError(
                f"{where}: {name} line {line} has {len(row)} values; the header has "
                f"{len(columns)} ({', '.join(columns)})"
            )
        result.append(dict(zip(columns, row, strict=True)))
    return result


def check_row_columns(columns: list[str], *, where: str) -> list[str]:
    """The columns of task rows (a CSV header, or ``Job.add_tasks`` keys): each becomes a
    placeholder and an environment variable, so none may replace one a task needs."""
    for column in columns:
        if not column:
            raise SpecError(f"{where} has an empty column name")
        check_env_name(column, where=f"{where} column")
        if column in ROW_RESERVED:
            raise SpecError(f"{where} column {column!r} is a reserved placeholder name")
        if column in SHADOWED_ENV or column.startswith(TASK_ENV_PREFIX) or column.startswith("LC_"):
            raise SpecError(
                f"{where} column {column!r} would replace the task's ${column} "
                "environment variable (columns become variables): rename the column"
            )
    repeated = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if repeated is not None:
        raise SpecError(f"{where} has two columns named {repeated!r}")
    return columns


def resolve(draft: JobDraft, *, new: bool = False, blobs: BlobSource | None = None) -> ResolvedJob:
    """Check a draft against the file system, fill placeholders and compute the job id.

    ``blobs`` lists and looks up ``az://`` names (default: your own identity, any container).
    """
    where = draft.source
    shared = tuple(shared_files(draft))
    taken = {f.dest for f in shared}
    tasks: list[TaskSpec] = []
    if needs_storage(draft) and blobs is None:
        blobs = default_blob_source()
    if draft.inputs is not None:
        check_placeholders(
            draft.command, INPUT_PLACEHOLDERS, where=f"{where}: command", env_names=TASK_ENV
        )
        for index, item in enumerate(matching_inputs(draft, blobs)):
            dest = item.dest
            if dest in taken:
                raise SpecError(f"{where}: input {dest} has the same path as a shared file")
            name = dest.rsplit("/", 1)[-1]
            stem = Path(name).stem
            values = {"input": dest, "name": name, "stem": stem, "index": str(index)}
            command = render(draft.command, values)
            env = {TASK_ENV[key]: value for key, value in values.items()}
            label = dest[:MAX_LABEL_LENGTH]
            tasks.append(TaskSpec(str(index), command, env, (item,), label))
    elif draft.rows is not None:
        columns = list(draft.rows[0]) if draft.rows else []
        check_placeholders(
            draft.command,
            [*columns, "index"],
            where=f"{where}: command",
            env_names={**{c: c for c in columns}, "index": TASK_ENV["index"]},
        )
        staged = row_files(draft, taken, blobs)
        for index, row in enumerate(draft.rows):
            files = staged[index]
            values = {**row, **{c: f.dest for c, f in files.items()}, "index": str(index)}
            command = render(draft.command, values)
            env = {**row, **{c: f.dest for c, f in files.items()}, TASK_ENV["index"]: str(index)}
            tasks.append(TaskSpec(str(index), command, env, tuple(files.values()), row_label(row)))
    if not tasks:
        raise SpecError(f"{where}: the job has no tasks")
    job_id = f"{draft.name}-{_fingerprint(draft, tasks, shared, new=new)}"
    return ResolvedJob(
        job_id=job_id,
        name=draft.name,
        image=draft.image,
        tasks=tuple(tasks),
        outputs=tuple(draft.outputs),
        shared=shared,
        env=dict(draft.env),
        retries=draft.retries,
        timeout=draft.timeout,
        aggregate=draft.aggregate,
        policy=draft.policy,
        pool=draft.pool,
        slots=draft.slots,
    )


def default_blob_source() -> BlobSource:
    """Your own identity (``az login``), any container you can read."""
    from superbatch.azure.blob_source import StorageBlobs
    from superbatch.azure.credentials import default_credential

    return StorageBlobs(default_credential())


def _fingerprint(
    draft: JobDraft, tasks: list[TaskSpec], shared: tuple[InputFile, ...], *, new: bool
) -> str:
    """Short hash of everything that defines the job, including input contents."""
    digests: dict[Path, str] = {}

    def digest(path: Path) -> str:
        if path not in digests:
            digests[path] = file_sha256(path)
        return digests[path]

    agg = draft.aggregate
    identity: dict[str, Any] = {
        "name": draft.name,
        "image": draft.image,
        "outputs": draft.outputs,
        "env": draft.env,
        "retries": draft.retries,
        "timeout": format_duration(draft.timeout) if draft.timeout else None,
        "aggregate": [agg.command, list(agg.outputs)] if agg else None,
        **draft.policy.identity(),
        **({"allow_failures": agg.allow_failures} if agg and agg.allow_failures else {}),
        "shared": [[f.dest, digest(f.source)] for f in shared],
        # The SUPERBATCH_* variables follow from the inputs and the index, hashed already:
        # left out, so job ids stay what they were before tasks had them.
        "tasks": [
            [t.id, t.command, _own_env(t.env), [_file_identity(f, digest) for f in t.inputs]]
            for t in tasks
        ],
    }
    # Only when set: jobs that name no pool keep the ids they had before pools existed.
    if draft.pool is not None:
        identity["pool"] = draft.pool
    if draft.slots != 1:
        identity["slots"] = draft.slots
    if new:
        identity["nonce"] = secrets.token_hex(8)
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:JOB_HASH_LENGTH]


def _file_identity(item: StagedFile, digest: Any) -> list[str]:
    """Local files by content; blobs by name and ETag (a changed blob is a new job)."""
    if isinstance(item, RemoteFile):
        return [item.dest, item.source, item.etag]
    return [item.dest, digest(item.source)]


def _own_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith(TASK_ENV_PREFIX)}


def _check_keys(data: dict[str, Any], known: tuple[str, ...], *, where: str) -> None:
    for key in data:
        if key not in known:
            raise SpecError(f"{where}: unknown key {key!r} (known keys: {', '.join(known)})")


def _command(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: command must be a non-empty string")
    return value


def _image(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise SpecError(f'{where}: image must be an image reference such as "wordcount:1"')
    return value
