"""``superbatch.Job``: the Python API; builds the same validated job as a TOML spec.

::

    from superbatch import Job, LocalBackend

    job = Job("pi", image="pi:1", command="python3 pi.py {seed}", outputs=["out/*"],
              shared=["pi.py"])
    job.add_tasks({"seed": s} for s in range(100))
    run = job.run(LocalBackend())
    for task, files in run.results():
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from superbatch.backend import Backend
from superbatch.errors import SpecError
from superbatch.model import ProgressCallback, ResolvedJob
from superbatch.run import RunOutcome, run_job
from superbatch.spec import (
    check_file_columns,
    check_row_columns,
    needs_storage,
    parse_table,
    resolve,
)


class Run:
    """A finished run: status, and the results on local disk."""

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.job_id = outcome.job_id
        self.status = outcome.status
        self.results_dir = outcome.results_dir

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def results(self) -> Iterator[tuple[str, list[Path]]]:
        """``(task id, output file paths)`` for every task, in task order (logs excluded)."""
        for task in self.outcome.tasks:
            yield task.task_id, self.outcome.outputs(task.task_id)


class Job:
    """A job built in code: every keyword is the spec key of the same name (README, *The job
    spec*), checked by the same code as a TOML spec. Give ``inputs`` (globs), ``tasks`` (a CSV
    file) or call :meth:`add_tasks` (parameter rows). A keyword left ``None`` is not given.

    ``aggregate`` is the ``[aggregate]`` table (``{"command": ..., "outputs": [...],
    "allow_failures": True}``), or just its command, with ``aggregate_outputs``.
    """

    def __init__(
        self,
        name: str,
        *,
        command: str,
        image: str | None = None,
        inputs: str | Path | Iterable[str | Path] | None = None,
        tasks: str | Path | None = None,
        files: Iterable[str] | None = None,
        shared: Iterable[str | Path] | None = None,
        outputs: Iterable[str] | None = None,
        retries: int | None = None,
        timeout: str | None = None,
        env: Mapping[str, str] | None = None,
        aggregate: str | Mapping[str, Any] | None = None,
        retry_on_exit: Iterable[int] | None = None,
        no_retry_on_exit: Iterable[int] | None = None,
        max_failures: int | None = None,
        pool: str | None = None,
        slots: int | None = None,
        aggregate_outputs: Iterable[str] | None = None,
        base_dir: str | Path = ".",
    ) -> None:
        where = f"Job({name!r})"
        table = _aggregate(aggregate, aggregate_outputs, where=where)
        keywords = {  # the spec's keys, in TOP_KEYS order (a test checks they are all here)
            "name": name, "image": image, "command": command, "inputs": inputs, "tasks": tasks,
            "files": files, "shared": shared, "outputs": outputs, "retries": retries,
            "timeout": timeout, "env": env, "aggregate": table,
            "retry_on_exit": retry_on_exit, "no_retry_on_exit": no_retry_on_exit,
            "max_failures": max_failures, "pool": pool, "slots": slots,
        }  # fmt: skip
        given = {key: as_spec_value(v) for key, v in keywords.items() if v is not None}
        base = Path(base_dir).resolve()
        self._draft = parse_table(given, base_dir=base, where=where, rows_later=True)
        self._csv = tasks is not None

    def add_tasks(self, rows: Iterable[Mapping[str, object]]) -> Job:
        """One task per row; keys become ``{placeholders}`` and environment variables."""
        where = self._draft.source
        if self._draft.inputs is not None:
            raise SpecError(f"{where}: give either inputs or add_tasks rows, not both")
        if self._csv:
            raise SpecError(f"{where}: give either tasks (a CSV file) or add_tasks rows, not both")
        added = [{str(k): str(v) for k, v in row.items()} for row in rows]
        existing = self._draft.rows or []
        columns = list((existing or added or [{}])[0])
        for number, row in enumerate(added, start=len(existing)):
            if list(row) != columns:
                raise SpecError(
                    f"{where}: task row {number} has keys {sorted(row)}; the first row has "
                    f"{sorted(columns)}"
                )
        check_row_columns(columns, where=f"{where}: add_tasks")
        self._draft.rows = existing + added
        return self

    def resolve(self, *, new: bool = False, backend: Backend | None = None) -> ResolvedJob:
        """Validate everything and compute the job id (nothing runs).

        ``az://`` names are listed by ``backend`` (else with your own identity).
        """
        if self._draft.inputs is None and not self._draft.rows:
            raise SpecError(
                f"{self._draft.source}: give inputs=..., tasks=... (a CSV file) or call "
                "add_tasks(...)"
            )
        if self._draft.files and not self._csv:  # known once rows are added: checked as in a spec
            rows = self._draft.rows
            self._draft.files = check_file_columns(
                self._draft.files, rows, where=self._draft.source
            )
        blobs = (
            backend.blob_source() if backend is not None and needs_storage(self._draft) else None
        )
        return resolve(self._draft, new=new, blobs=blobs)

    def run(
        self,
        backend: Backend,
        *,
        results: str | Path = "results",
        new: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Run:
        """Run to completion on ``backend``; results land in ``results/<job>/``."""
        outcome = run_job(
            backend,
            self.resolve(new=new, backend=backend),
            results_root=Path(results),
            progress=progress,
        )
        return Run(outcome)


def as_spec_value(value: object) -> object:
    """A Python value as TOML would give it, for the spec's own checks: paths become strings,
    mappings dicts, other iterables (tuples, generators, ranges) lists. Nothing is checked
    here: a value of the wrong kind is refused by the same check as in a TOML spec."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str | bytes | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {key: as_spec_value(item) for key, item in value.items()}
    if isinstance(value, Iterable):
        return [as_spec_value(item) for item in value]
    return value


def _aggregate(
    value: str | Mapping[str, Any] | None, outputs: Iterable[str] | None, *, where: str
) -> object:
    """``aggregate="cmd"`` (with ``aggregate_outputs``) is the table ``{"command": "cmd", ...}``."""
    if outputs is not None and not isinstance(value, str):
        raise SpecError(
            f'{where}: aggregate_outputs goes with aggregate="<command>"; in an aggregate '
            'table give "outputs"'
        )
    if isinstance(value, str):
        return {"command": value, **({"outputs": outputs} if outputs is not None else {})}
    return value
