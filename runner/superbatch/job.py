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

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from superbatch.backend import Backend
from superbatch.errors import SpecError
from superbatch.model import ProgressCallback, ResolvedJob
from superbatch.run import RunOutcome, run_job
from superbatch.spec import (
    ROW_RESERVED,
    JobDraft,
    check_file_columns,
    needs_storage,
    parse_aggregate,
    resolve,
)
from superbatch.validate import (
    check_env,
    check_env_name,
    check_name,
    check_output_pattern,
    check_pool,
    check_retries,
    check_slots,
    check_string_list,
    parse_duration,
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
    """A job built in code. Give ``inputs`` (globs) or call :meth:`add_tasks` (parameter rows)."""

    def __init__(
        self,
        name: str,
        *,
        command: str,
        image: str | None = None,
        inputs: str | Iterable[str] | None = None,
        shared: Iterable[str] = (),
        outputs: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        retries: int = 0,
        timeout: str | None = None,
        aggregate: str | None = None,
        aggregate_outputs: Iterable[str] = (),
        files: Iterable[str] = (),
        pool: str | None = None,
        slots: int = 1,
        base_dir: str | Path = ".",
    ) -> None:
        where = f"Job({name!r})"
        if not isinstance(command, str) or not command.strip():
            raise SpecError(f"{where}: command must be a non-empty string")
        self._files = list(files)  # CSV-style columns naming files: checked in resolve()
        self._draft = JobDraft(
            name=check_name(name, where=where),
            command=command,
            base_dir=Path(base_dir).resolve(),
            source=where,
            image=image,
            shared=check_string_list(list(shared), key="shared", where=where) if shared else [],
            outputs=[check_output_pattern(p, where=where) for p in outputs],
            env=check_env(dict(env or {}), where=where),
            retries=check_retries(retries, where=where),
            timeout=parse_duration(timeout, where=where) if timeout is not None else None,
            pool=check_pool(pool, where=where) if pool is not None else None,
            slots=check_slots(slots, where=where),
        )
        if inputs is not None:
            globs = [inputs] if isinstance(inputs, str) else list(inputs)
            self._draft.inputs = check_string_list(globs, key="inputs", where=where)
        if aggregate is not None:  # checked exactly as a TOML [aggregate] table is
            table = {"command": aggregate, "outputs": list(aggregate_outputs)}
            self._draft.aggregate = parse_aggregate(table, where=f"{where}: aggregate")

    def add_tasks(self, rows: Iterable[Mapping[str, object]]) -> Job:
        """One task per row; keys become ``{placeholders}`` and environment variables."""
        where = self._draft.source
        if self._draft.inputs is not None:
            raise SpecError(f"{where}: give either inputs or add_tasks rows, not both")
        added = [{str(k): str(v) for k, v in row.items()} for row in rows]
        existing = self._draft.rows or []
        columns = list((existing or added or [{}])[0])
        for number, row in enumerate(added, start=len(existing)):
            if list(row) != columns:
                raise SpecError(
                    f"{where}: task row {number} has keys {sorted(row)}; the first row has "
                    f"{sorted(columns)}"
                )
        for column in columns:
            check_env_name(column, where=f"{where}: task key")
            if column in ROW_RESERVED:
                raise SpecError(f"{where}: task key {column!r} is a reserved placeholder name")
        self._draft.rows = existing + added
        return self

    def resolve(self, *, new: bool = False, backend: Backend | None = None) -> ResolvedJob:
        """Validate everything and compute the job id (nothing runs).

        ``az://`` names are listed by ``backend`` (else with your own identity).
        """
        if self._draft.inputs is None and not self._draft.rows:
            raise SpecError(f"{self._draft.source}: give inputs=... or call add_tasks(...)")
        if self._files:  # the columns are known once rows are added: checked as in a spec
            rows = self._draft.rows
            self._draft.files = check_file_columns(self._files, rows, where=self._draft.source)
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
