"""A task's log as it grows: from the node while it runs, from storage once it ended.

While the task runs, the node's ``stdout.txt`` / ``stderr.txt`` are read through the task
file API: one listing gives the file's length, then only the new bytes are asked for with
``ocp-range: bytes=<from>-<to>`` (the format the SDK documents for ``download_task_file``).
A service that answers with the whole file instead is handled too: the bytes already seen
are cut off here. Once the task completed, its log comes from the outputs container, where
it was uploaded on completion (the node may be gone by then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superbatch.azure import download
from superbatch.azure.errors import call_with_retries, translate_azure_error
from superbatch.azure.wire import wire_enum
from superbatch.errors import SuperBatchError, TaskNotStartedError
from superbatch.follow import LogRead

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import ContainerClient


def read_task_log(
    client: BatchClient,
    outputs: ContainerClient,
    job_id: str,
    task_id: str,
    *,
    stream: str,
    offset: int,
) -> LogRead:
    task = call_with_retries(  # an unknown job or task: JobNotFoundError
        lambda: client.get_task(job_id, task_id, select=["id", "state", "executionInfo"]),
        action=f"find task {task_id} of job {job_id}",
    )
    state = wire_enum(task.state)
    info = task.execution_info
    started = info is not None and info.start_time is not None
    name = f"{stream}.txt"
    if state == "completed":
        stored = download.read_blob_bytes(outputs, download.log_blob(job_id, task_id, stream))
        data = stored if stored is not None else _node_bytes(client, job_id, task_id, name, 0)
        return _from(data, offset, started=started, ended=True)
    if state not in ("running", "preparing"):
        job_state = call_with_retries(
            lambda: wire_enum(client.get_job(job_id, select=["id", "state"]).state),
            action=f"find job {job_id}",
        )
        ended = job_state in ("completed", "terminating", "deleting")
        note = (
            f"task {task_id} has not run: job {job_id} is {job_state}"
            if ended
            else f"task {task_id} has not started yet (waiting for a node)"
        )
        return LogRead(b"", started=False, ended=ended, note=note)
    size = _node_size(client, job_id, task_id, name)
    if size is None or size == offset:
        return LogRead(b"", started=True, ended=False)
    if size < offset:  # a new attempt truncated it
        return _from(_node_bytes(client, job_id, task_id, name, 0, size), 0, True, False, True)
    data = _node_bytes(client, job_id, task_id, name, offset, size)
    return LogRead(data, started=True, ended=False)


def _from(data: bytes, offset: int, started: bool, ended: bool, restarted: bool = False) -> LogRead:
    if len(data) < offset:
        return LogRead(data, started, ended, restarted=True)
    return LogRead(data[offset:], started, ended, restarted=restarted)


def _node_size(client: BatchClient, job_id: str, task_id: str, name: str) -> int | None:
    """The file's length on the node (one listing of the task's files), None if absent."""

    def listed() -> list[Any]:
        return list(client.list_task_files(job_id, task_id))

    action = f"list the files of task {task_id} of job {job_id}"
    for item in call_with_retries(listed, action=action):
        if item.name == name and item.properties is not None:
            return int(item.properties.content_length)
    return None


def _node_bytes(
    client: BatchClient, job_id: str, task_id: str, name: str, start: int, end: int | None = None
) -> bytes:
    """Bytes ``start``..``end`` (exclusive) of the node's file; b"" when it is gone."""
    ranged = f"bytes={start}-{end - 1}" if end is not None and end > start else None
    try:
        data = b"".join(client.download_task_file(job_id, task_id, name, ocp_range=ranged))
    except Exception as exc:
        if getattr(exc, "status_code", None) in (404, 409):
            return b""  # the node or the file is gone (the stored copy is what counts)
        raise translate_azure_error(exc, action=f"read {name} of task {task_id}") from exc
    if end is not None and len(data) > end - start:  # the range was not honoured
        data = data[start:end]
    return data


def whole_log(
    client: BatchClient, outputs: ContainerClient, job_id: str, task_id: str, *, stream: str
) -> str:
    """The task's stored (or, while it runs, live) log; "" while it has none yet.

    An unknown job or task raises JobNotFoundError (as --local does), never "".
    """
    if stream not in ("stdout", "stderr"):
        raise SuperBatchError(f"unknown log stream {stream!r}: use stdout or stderr")
    name = download.log_blob(job_id, task_id, stream)
    stored = download.read_blob_text(outputs, name)
    if stored is not None:
        return stored
    try:  # still running: read it from the node
        chunks = client.download_task_file(job_id, task_id, f"{stream}.txt")
        return b"".join(chunks).decode("utf-8", errors="replace")
    except Exception as exc:
        action = f"read the {stream} of task {task_id} of job {job_id}"
        if getattr(exc, "status_code", None) not in (404, 409):
            raise translate_azure_error(exc, action=action) from exc
    # 404/409 means no such job, task or file, or a task not started. The SDK streams this
    # call and leaves the error body unread (no code), so ask for the task itself.
    task = call_with_retries(
        lambda: client.get_task(job_id, task_id, select=["id", "state"]),
        action=f"find task {task_id} of job {job_id}",
    )
    if wire_enum(task.state) in ("active", "preparing"):
        raise TaskNotStartedError(f"task {task_id} of job {job_id} has not run yet: no logs")
    return ""  # the task ran but wrote no such file
