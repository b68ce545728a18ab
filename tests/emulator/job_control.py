"""Routes Batch has beyond submit-and-watch: job disable/enable, task reactivate and update,
task-file delete, the job preparation/release status listing, and 404 for unknown resources.

Status codes are the SDK's (``_operations.py``: disable/enable 202, reactivate 204, task PUT
200, file DELETE 200); state rules are the SDK's docstrings and Batch's error-code table; the
answers were checked against recorded exchanges of the real service (tests/conformance).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from tests.emulator import odata
from tests.emulator.errors import BatchServiceError, invalid_property, not_found
from tests.emulator.routes import Answer, Request, changed, route, task_root
from tests.emulator.store import etag, job_not_active, now

if TYPE_CHECKING:
    from tests.emulator.server import BatchEmulator
    from tests.emulator.store import Job

_DISABLE_TASKS = ("requeue", "terminate", "wait")
_RUNNING = ("running", "preparing")


def _conflict(code: str, message: str) -> BatchServiceError:
    return BatchServiceError(409, code, message)


def _active_job(emu: BatchEmulator, job_id: str) -> Job:
    job = emu.account.job(job_id)
    if job.state != "active":
        raise job_not_active(job)
    return job


# -- jobs -----------------------------------------------------------------------------------


@route("POST", "/jobs/{job}/disable", "disable_job")
def disable_job(emu: BatchEmulator, req: Request) -> Answer:
    """202; running tasks per ``disableTasks``: requeue (killed, back to active), terminate
    (killed, completed with TaskEnded), wait (left to finish). No new task starts while the
    job is disabled. The transitional ``disabling`` state is skipped (the SDK's poller only
    waits while the job is ``disabling``)."""
    with emu.account.lock:
        emu.account.job(req.params["job"])  # 404 before the body is looked at
    body = req.json()
    mode = body.get("disableTasks") if isinstance(body, dict) else None
    if mode is None:
        raise BatchServiceError(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            PropertyName="disableTasks",
        )
    mode = str(mode).lower()
    if mode not in _DISABLE_TASKS:
        raise invalid_property("disableTasks", mode, f"must be one of {', '.join(_DISABLE_TASKS)}")
    with emu.account.lock:
        job = _active_job(emu, req.params["job"])
        job.set_state("disabled")
        for task in job.tasks.values():
            if task.state in _RUNNING and mode != "wait":
                task.stop_reason = mode  # "requeue" or "terminate"
        emu.account.changed.notify_all()
        return changed(emu, req, job.wire, 202)


@route("POST", "/jobs/{job}/enable", "enable_job")
def enable_job(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        job = emu.account.job(req.params["job"])
        if job.state not in ("disabled", "disabling", "enabling"):
            raise _conflict(
                "OperationInvalidForCurrentState",
                "The specified operation is not valid for the current state of the resource.",
            )
        job.set_state("active")
        emu.account.changed.notify_all()
        return changed(emu, req, job.wire, 202)


@route(
    "GET",
    "/jobs/{job}/jobpreparationandreleasetaskstatus",
    "list_job_preparation_and_release_task_status",
)
def job_preparation_and_release_status(emu: BatchEmulator, req: Request) -> Answer:
    """Jobs here never have preparation or release tasks: 409 as Batch answers for such a job."""
    with emu.account.lock:
        emu.account.job(req.params["job"])
    raise _conflict(
        "JobPreparationTaskOrReleaseTaskNotSpecified",
        "The specified job does not have either job preparation task or job release task.",
    )


# -- tasks ----------------------------------------------------------------------------------


@route("POST", "/jobs/{job}/tasks/{task}/reactivate", "reactivate_task")
def reactivate_task(emu: BatchEmulator, req: Request) -> Answer:
    """Completed and failed -> active, retry count 0, result and failure info gone."""
    with emu.account.lock:
        _active_job(emu, req.params["job"])
        task = emu.account.task(req.params["job"], req.params["task"])
        if task.state != "completed":
            raise _conflict(
                "TaskNotCompleted",
                "The specified task is not in a completed state, and the requested operation "
                "can be performed only on completed tasks.",
            )
        info = task.wire["executionInfo"]
        if info.get("result") == "success":
            raise _conflict(
                "TaskSucceeded",
                "The specified task has already completed successfully, and the requested "
                "operation cannot be performed on successful tasks.",
            )
        task.wire["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
        task.set_state("active")
        emu.account.changed.notify_all()
        return changed(emu, req, task.wire, 204)


@route("PUT", "/jobs/{job}/tasks/{task}", "replace_task")
def replace_task(emu: BatchEmulator, req: Request) -> Answer:
    """Only ``constraints`` can change (the SDK sends a BatchTask); what is left out keeps Batch's
    default, as a PUT does."""
    from tests.emulator.validation import check_constraints

    body = req.json()
    if not isinstance(body, dict):
        raise BatchServiceError(
            400, "InvalidRequestBody", "The specified Request Body is not syntactically valid."
        )
    constraints = body.get("constraints") or {}
    check_constraints("constraints", constraints)
    with emu.account.lock:
        job = emu.account.job(req.params["job"])
        task = emu.account.task(req.params["job"], req.params["task"])
        if task.state == "completed":
            raise _conflict("TaskCompleted", "The specified task is already in a completed state.")
        task.wire["constraints"] = {
            "maxWallClockTime": "P10675199DT2H48M5.4775807S",
            "retentionTime": "P7D",
            "maxTaskRetryCount": job.wire["constraints"].get("maxTaskRetryCount", 0),
            **constraints,
        }
        task.wire["lastModified"] = now()
        task.wire["eTag"] = etag()
        return changed(emu, req, task.wire, 200)


# -- task files -----------------------------------------------------------------------------


@route("DELETE", "/jobs/{job}/tasks/{task}/files/{path}", "delete_task_file")
def delete_task_file(emu: BatchEmulator, req: Request) -> Answer:
    root = task_root(emu, req)
    path = (root / req.params["path"]).resolve()
    if not path.is_relative_to(root.resolve()) or path == root.resolve() or not path.exists():
        raise not_found("FileNotFound", "file")
    if path.is_dir():
        if req.query.get("recursive", "false").lower() != "true" and any(path.iterdir()):
            raise _conflict(
                "OperationInvalidForCurrentState",
                "The specified operation is not valid for the current state of the resource.",
            )
        shutil.rmtree(path)
    else:
        path.unlink()
    return 200, {}, None


# -- pools listing ----------------------------------------------------------------------------


@route("GET", "/pools", "list_pools")
def list_pools(emu: BatchEmulator, req: Request) -> Answer:
    """The account's pools with ``$filter``, ``$select``, ``maxresults`` and paging as every
    listing (what the JS SDK's pool-listing recordings check: nextLink, maxresults < 1)."""
    keep = odata.compile_filter(req.query.get("$filter"))
    with emu.account.lock:
        items = [wire for wire in (p.wire() for p in emu.account.pools.values()) if keep(wire)]
        return 200, {}, odata.page(items, req.query, f"{req.base_url}{req.path}")


# -- what does not exist --------------------------------------------------------------------


def unknown_resource(emu: BatchEmulator, path: str) -> BatchServiceError:
    """404 for a URL no route knows: the missing job/task/pool if it names one, else
    ``ResourceNotFound`` (Batch's common code), never 400 ``InvalidUri``."""
    parts = [part for part in path.split("/") if part]
    try:
        with emu.account.lock:
            if len(parts) >= 2 and parts[0] == "jobs":
                emu.account.job(parts[1])
                if len(parts) >= 4 and parts[2] == "tasks":
                    emu.account.task(parts[1], parts[3])
            if len(parts) >= 2 and parts[0] == "pools":
                emu.account.pool(parts[1])
    except BatchServiceError as missing:
        return missing
    return BatchServiceError(404, "ResourceNotFound", "The specified resource does not exist.")
