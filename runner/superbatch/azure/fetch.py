"""``results`` on Azure: fetch (or list) a job's stored outputs and logs, and write the
manifest, with each task's state and attempts as Batch and the runner's monitor give them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.azure import monitor
from superbatch.azure import policy as azure_policy
from superbatch.model import AGGREGATE_TASK_ID, ResultFile, TaskResult, TaskState

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend


def fetch_results(
    backend: AzureBatchBackend,
    job_id: str,
    dest: Path,
    *,
    only: tuple[str, ...] | None = None,
    download: bool = True,
) -> list[TaskResult]:
    from superbatch import results as layout
    from superbatch.azure.download import download_job_outputs, files_by_task
    from superbatch.remote import blob_url

    previous = layout.previous_files(dest, job_id)  # before the manifest is rewritten
    report = download_job_outputs(
        backend.results_container,
        job_id,
        dest,
        select=None if only is None else lambda path: layout.selects(path, only),
        fetch=download,
        logs=layout.wants_logs(only),
    )
    stored = files_by_task(report.names, job_id)
    for task_id, files in previous.items() if download else ():
        # as --local: a superseded attempt's files go (of those --only picks)
        earlier = [f for f in files if layout.selects(f.path, only)]
        layout.remove_superseded(dest / job_id / task_id, earlier, stored.get(task_id, set()))
    container_url = backend.outputs.outputs_container_url
    results: list[TaskResult] = []
    aggregate: TaskResult | None = None
    meta = backend._job_meta(job_id)
    again = azure_policy.reactivations(meta)
    statuses = backend._all_tasks(
        job_id, lambda task: monitor.task_status(task, None, reactivated=again.get(task.id, 0))
    )
    regular = [s.state for s in statuses if s.task_id != AGGREGATE_TASK_ID]
    if meta.get("superbatch_aggregate") == "1" and all(
        s.task_id != AGGREGATE_TASK_ID for s in statuses
    ):  # deferred, and never added: it did not run (azure/enforce.py)
        statuses.append(monitor.never_ran(AGGREGATE_TASK_ID))
    allowed = meta.get(azure_policy.META_ALLOW_FAILURES, "0") != "0"
    if TaskState.FAILED in regular and not allowed:
        finished = (TaskState.SUCCEEDED, TaskState.FAILED)
        blocked = all(state in finished for state in regular) and any(
            s.task_id == AGGREGATE_TASK_ID and s.state is TaskState.QUEUED for s in statuses
        )
        watched = meta.get(azure_policy.META_WATCHED) == "1"  # its leader ends it
        if blocked and not watched and backend._job_state(job_id) == "active":
            monitor.end_blocked_job(backend.batch, job_id)
        statuses = [
            monitor.never_ran(s.task_id) if s.task_id == AGGREGATE_TASK_ID else s for s in statuses
        ]
    for status in statuses:
        paths = stored.get(status.task_id, ())
        if download:
            result = layout.task_result(
                dest,
                job_id,
                status.task_id,
                state=status.state,
                exit_code=status.exit_code,
                attempts=status.attempts,
                paths=paths,
                label=status.label,
            )
        else:  # listed, not fetched: each file's blob URL (no SAS: read it as yourself)
            names = {p: f"{job_id}/{status.task_id}/{p}" for p in paths}
            files = tuple(
                ResultFile(p, report.sizes[n], "", blob_url(container_url, report.blob_names[n]))
                for p, n in sorted(names.items())
            )
            result = TaskResult(
                status.task_id,
                status.state,
                status.exit_code,
                status.attempts,
                files,
                status.label,
            )
        if status.task_id == AGGREGATE_TASK_ID:
            aggregate = result
        else:
            results.append(result)
    results.sort(key=_task_order)
    layout.write_manifest(dest, layout.Manifest(job_id, backend.name, tuple(results), aggregate))
    return results + ([aggregate] if aggregate is not None else [])


def _task_order(result: TaskResult) -> tuple[int, int | str]:
    task_id = result.task_id
    return (0, int(task_id)) if task_id.isdigit() else (1, task_id)
