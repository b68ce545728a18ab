"""Batch data-plane routes: URL pattern -> SDK operation name -> handler on the account.

Each handler returns ``(status, headers, body)``; ``body`` is a dict (sent as JSON), bytes
(sent raw) or None (empty). Status codes are the ones the SDK's generated operations expect
(``azure/batch/_operations/_operations.py``: create 201, LRO starts 202, terminate task 204).
"""

from __future__ import annotations

import datetime
import email.utils
import json
import mimetypes
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.emulator import odata
from tests.emulator.errors import BatchServiceError, invalid_property, missing_property, not_found
from tests.emulator.pools import MAX_INTERVAL, MIN_INTERVAL
from tests.emulator.validation import parse_duration

if TYPE_CHECKING:
    from tests.emulator.server import BatchEmulator

Answer = tuple[int, dict[str, str], Any]
MAX_COLLECTION_TASKS = 100
MAX_COLLECTION_BYTES = 1024 * 1024


@dataclass
class Request:
    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    base_url: str  # scheme://host:port
    path: str
    byte_range: str | None = None  # the `ocp-range` header (task file downloads)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise BatchServiceError(
                400, "InvalidRequestBody", "The specified Request Body is not syntactically valid."
            ) from None


Handler = Callable[["BatchEmulator", Request], Answer]
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []


def route(method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
    # {path} (a task file) may hold slashes; other parameters are one segment
    pattern = pattern.replace("{path}", "(?P<path>.+)")
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, regex, name, handler))
        return handler

    return register


def match(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    known_path = False
    for route_method, regex, name, handler in ROUTES:
        found = regex.match(path)
        if found:
            known_path = True
            if route_method == method:
                params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                return name, handler, params
    if known_path:
        raise BatchServiceError(
            405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb."
        )
    return None


def _http_date(iso: str) -> str:
    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return email.utils.format_datetime(moment, usegmt=True)


def _created(location: str, etag: str, last_modified: str) -> Answer:
    last_modified = _http_date(last_modified)
    headers = {
        "Location": location,
        "DataServiceId": location,
        "ETag": etag,
        "Last-Modified": last_modified,
    }
    return 201, headers, None


def changed(emu: BatchEmulator, req: Request, wire: dict[str, Any], status: int) -> Answer:
    """Empty answer of a change to a job or task: its new ETag and time, as Batch sends them
    (JS job_operations and .NET TaskReactive recordings)."""
    with emu.account.lock:
        headers = {
            "DataServiceId": f"{req.base_url}{req.path}",
            "ETag": wire["eTag"],
            "Last-Modified": _http_date(wire["lastModified"]),
        }
    return status, headers, None


def _entity(wire: dict[str, Any], query: dict[str, str], metadata: str) -> Answer:
    body = {"odata.metadata": metadata, **odata.apply_select(wire, query.get("$select"))}
    headers = {"ETag": wire["eTag"]}
    if "lastModified" in wire:
        headers["Last-Modified"] = _http_date(wire["lastModified"])
    return 200, headers, body


# -- jobs -----------------------------------------------------------------------------------


@route("POST", "/jobs", "create_job")
def create_job(emu: BatchEmulator, req: Request) -> Answer:
    job = emu.account.create_job(req.json())
    return _created(job.wire["url"], job.wire["eTag"], job.wire["lastModified"])


@route("GET", "/jobs", "list_jobs")
def list_jobs(emu: BatchEmulator, req: Request) -> Answer:
    keep = odata.compile_filter(req.query.get("$filter"))
    with emu.account.lock:
        items = [job.wire for job in emu.account.jobs.values() if keep(job.wire)]
        return 200, {}, odata.page(items, req.query, f"{req.base_url}{req.path}")


@route("GET", "/jobs/{job}", "get_job")
def get_job(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        wire = json.loads(json.dumps(emu.account.job(req.params["job"]).wire))
    return _entity(wire, req.query, f"{req.base_url}/$metadata#jobs/@Element")


@route("PATCH", "/jobs/{job}", "update_job")
def update_job(emu: BatchEmulator, req: Request) -> Answer:
    emu.account.update_job(req.params["job"], req.json())
    return changed(emu, req, emu.account.job(req.params["job"]).wire, 200)


@route("PUT", "/jobs/{job}", "replace_job")
def replace_job(emu: BatchEmulator, req: Request) -> Answer:
    emu.account.update_job(req.params["job"], req.json(), replace=True)
    return changed(emu, req, emu.account.job(req.params["job"]).wire, 200)


@route("DELETE", "/jobs/{job}", "delete_job")
def delete_job(emu: BatchEmulator, req: Request) -> Answer:
    emu.account.delete_job(req.params["job"])
    return 202, {}, None


@route("POST", "/jobs/{job}/terminate", "terminate_job")
def terminate_job(emu: BatchEmulator, req: Request) -> Answer:
    body = req.json() if req.body else None
    reason = body.get("terminateReason") if isinstance(body, dict) else None
    emu.account.terminate_job(req.params["job"], reason)
    return changed(emu, req, emu.account.job(req.params["job"]).wire, 202)


@route("GET", "/jobs/{job}/taskcounts", "get_job_task_counts")
def get_job_task_counts(emu: BatchEmulator, req: Request) -> Answer:
    counts = emu.account.task_counts(req.params["job"])
    return (
        200,
        {},
        {"odata.metadata": f"{req.base_url}/$metadata#taskcountsresult/@Element", **counts},
    )


# -- tasks ----------------------------------------------------------------------------------


@route("POST", "/jobs/{job}/tasks", "create_task")
def create_task(emu: BatchEmulator, req: Request) -> Answer:
    task = emu.account.add_task(req.params["job"], req.json())
    return _created(task.wire["url"], task.wire["eTag"], task.wire["lastModified"])


@route("POST", "/jobs/{job}/addtaskcollection", "create_task_collection")
def create_task_collection(emu: BatchEmulator, req: Request) -> Answer:
    too_large = BatchServiceError(
        413,
        "RequestBodyTooLarge",
        "The size of the request body exceeds the maximum size permitted.",
    )
    if len(req.body) >= MAX_COLLECTION_BYTES:
        raise too_large
    body = req.json()
    tasks = body.get("value") if isinstance(body, dict) else None
    if not isinstance(tasks, list):
        raise BatchServiceError(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            PropertyName="value",
        )
    if len(tasks) > MAX_COLLECTION_TASKS:
        raise too_large
    results = emu.account.add_collection(req.params["job"], tasks)
    return 200, {}, {"odata.metadata": f"{req.base_url}/$metadata#taskaddresult", "value": results}


@route("GET", "/jobs/{job}/tasks", "list_tasks")
def list_tasks(emu: BatchEmulator, req: Request) -> Answer:
    keep = odata.compile_filter(req.query.get("$filter"))
    with emu.account.lock:
        job = emu.account.job(req.params["job"])
        items = [t.wire for t in job.tasks.values() if keep(t.wire)]
        return 200, {}, odata.page(items, req.query, f"{req.base_url}{req.path}")


@route("GET", "/jobs/{job}/tasks/{task}", "get_task")
def get_task(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        wire = json.loads(json.dumps(emu.account.task(req.params["job"], req.params["task"]).wire))
    return _entity(wire, req.query, f"{req.base_url}/$metadata#tasks/@Element")


@route("DELETE", "/jobs/{job}/tasks/{task}", "delete_task")
def delete_task(emu: BatchEmulator, req: Request) -> Answer:
    emu.account.delete_task(req.params["job"], req.params["task"])
    return 200, {}, None


@route("POST", "/jobs/{job}/tasks/{task}/terminate", "terminate_task")
def terminate_task(emu: BatchEmulator, req: Request) -> Answer:
    emu.account.terminate_task(req.params["job"], req.params["task"])
    return changed(emu, req, emu.account.task(req.params["job"], req.params["task"]).wire, 204)


# -- task files -----------------------------------------------------------------------------


def task_root(emu: BatchEmulator, req: Request) -> Path:
    with emu.account.lock:
        task = emu.account.task(req.params["job"], req.params["task"])
        if task.state == "active" and "startTime" not in task.wire["executionInfo"]:
            raise BatchServiceError(
                409, "TaskFilesUnavailable", "The files of the specified task are unavailable."
            )
        return emu.node.task_dir(task.job_id, task.id)


def _task_file(emu: BatchEmulator, req: Request) -> Path:
    root = task_root(emu, req)
    path = (root / req.params["path"]).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise not_found("FileNotFound", "file")
    return path


@route("GET", "/jobs/{job}/tasks/{task}/files", "list_task_files")
def list_task_files(emu: BatchEmulator, req: Request) -> Answer:
    root = task_root(emu, req)
    recursive = req.query.get("recursive", "false").lower() == "true"
    entries = sorted(root.rglob("*") if recursive else root.glob("*"))
    items = []
    for entry in entries:
        name = entry.relative_to(root).as_posix()
        item: dict[str, Any] = {
            "name": name,
            "url": f"{emu.url}/jobs/{req.params['job']}/tasks/{req.params['task']}/files/{name}",
            "isDirectory": entry.is_dir(),
        }
        if entry.is_file():
            stat = entry.stat()
            item["properties"] = {  # as a Linux node lists them (Go SDK TestTask recording)
                "lastModified": emu.stamp(stat.st_mtime),
                "contentLength": str(stat.st_size),  # a string on the wire
                "contentType": _content_type(entry),
                "fileMode": oct(stat.st_mode),
            }
        items.append(item)
    return 200, {}, odata.page(items, req.query, f"{req.base_url}{req.path}")


@route("GET", "/jobs/{job}/tasks/{task}/files/{path}", "download_task_file")
def download_task_file(emu: BatchEmulator, req: Request) -> Answer:
    path = _task_file(emu, req)
    data = path.read_bytes()
    if req.byte_range is not None and emu.honour_ranges:
        data = _byte_range(data, req.byte_range)
    return (
        200,  # also for a range: the SDK accepts only 200 here
        {
            "Content-Type": _content_type(path),
            **_file_headers(emu, path, f"{req.base_url}{req.path}"),
        },
        data,
    )


def _byte_range(data: bytes, header: str) -> bytes:
    """``bytes=start-end`` (end inclusive, optional) of ``data``; else 400."""
    unit, _, span = header.partition("=")
    start_text, _, end_text = span.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if end_text.strip() else len(data) - 1
    except ValueError:
        start, end = -1, -1
    if unit.strip() != "bytes" or start < 0 or end < start:
        raise BatchServiceError(
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format.",
        )
    return data[start : end + 1]


@route("HEAD", "/jobs/{job}/tasks/{task}/files/{path}", "get_task_file_properties")
def get_task_file_properties(emu: BatchEmulator, req: Request) -> Answer:
    path = _task_file(emu, req)
    headers = {
        "Content-Type": _content_type(path),
        **_file_headers(emu, path, f"{req.base_url}{req.path}"),
        "Content-Length": str(path.stat().st_size),
    }
    return 200, headers, None


def _content_type(path: Path) -> str:
    """``text/plain`` for stdout.txt as Batch answers (.NET GetTaskFile recording)."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file_headers(emu: BatchEmulator, path: Path, url: str) -> dict[str, str]:
    stat = path.stat()
    return {
        "ocp-creation-time": emu.http_date(stat.st_ctime),
        "ocp-batch-file-isdirectory": "False",
        "ocp-batch-file-url": urllib.parse.quote(url, safe=""),
        "Last-Modified": emu.http_date(stat.st_mtime),
        "ocp-batch-file-mode": oct(stat.st_mode),  # "0o100644" (Go SDK TestTask recording)
    }


# -- pools (see pools.py) ------------------------------------------------------------------


def _pool_answer(emu: BatchEmulator, req: Request, status: int = 200) -> Answer:
    """Empty answer of a pool action: ``DataServiceId``, the pool's new ETag and time."""
    with emu.account.lock:
        pool = emu.account.pool(req.params["pool"])
        headers = {
            "DataServiceId": f"{req.base_url}{req.path}",
            "ETag": pool.etag,
            "Last-Modified": emu.http_date(pool.last_modified),
        }
    return status, headers, None


@route("GET", "/pools/{pool}", "get_pool")
def get_pool(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        wire = emu.account.pool(req.params["pool"]).wire()
    return _entity(wire, req.query, f"{req.base_url}/$metadata#pools/@Element")


@route("HEAD", "/pools/{pool}", "pool_exists")
def pool_exists(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        pool = emu.account.pool(req.params["pool"])
        return 200, {"ETag": pool.etag, "Last-Modified": emu.http_date(pool.last_modified)}, None


@route("GET", "/pools/{pool}/nodes", "list_nodes")
def list_nodes(emu: BatchEmulator, req: Request) -> Answer:
    keep = odata.compile_filter(req.query.get("$filter"))
    with emu.account.lock:
        pool = emu.account.pool(req.params["pool"])
        items = [w for w in (pool.node_wire(n) for n in pool.nodes) if keep(w)]
    return 200, {}, odata.page(items, req.query, f"{req.base_url}{req.path}")


@route("GET", "/pools/{pool}/nodes/{node}", "get_node")
def get_node(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        pool = emu.account.pool(req.params["pool"])
        node = next((n for n in pool.nodes if n.id == req.params["node"]), None)
        if node is None:
            raise not_found("NodeNotFound", "node")
        wire = {**pool.node_wire(node), "eTag": pool.etag}
    return _entity(wire, req.query, f"{req.base_url}/$metadata#nodes/@Element")


@route("POST", "/pools/{pool}/enableautoscale", "enable_pool_auto_scale")
def enable_pool_auto_scale(emu: BatchEmulator, req: Request) -> Answer:
    body = req.json() or {}
    interval = body.get("autoScaleEvaluationInterval")
    seconds = None
    if interval is not None:
        seconds = parse_duration("autoScaleEvaluationInterval", interval)
        if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
            raise invalid_property(
                "autoScaleEvaluationInterval",
                interval,
                "The value must be between 5 minutes and 168 hours",
            )
    with emu.account.lock:
        emu.account.pool(req.params["pool"]).enable_auto_scale(
            body.get("autoScaleFormula"), seconds
        )
        emu.account.changed.notify_all()
    return _pool_answer(emu, req)


@route("POST", "/pools/{pool}/evaluateautoscale", "evaluate_pool_auto_scale")
def evaluate_pool_auto_scale(emu: BatchEmulator, req: Request) -> Answer:
    body = req.json() or {}
    formula = body.get("autoScaleFormula")
    if not isinstance(formula, str):
        raise missing_property("autoScaleFormula")
    with emu.account.lock:
        pool = emu.account.pool(req.params["pool"])
        if not pool.auto_scale:  # "Automatic scaling must be enabled on the pool"
            raise BatchServiceError(  # a listed Batch code; which one Batch uses: unverified
                409,
                "OperationInvalidForCurrentState",
                "The specified operation is not valid for the current state of the resource.",
            )
        run = pool.evaluate(formula, emu.clock.now())
        run.pop("_outcome", None)
    metadata = f"{req.base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
    headers = {"DataServiceId": f"{req.base_url}{req.path}"}
    return 200, headers, {"odata.metadata": metadata, **run}


@route("POST", "/pools/{pool}/disableautoscale", "disable_pool_auto_scale")
def disable_pool_auto_scale(emu: BatchEmulator, req: Request) -> Answer:
    with emu.account.lock:
        emu.account.pool(req.params["pool"]).disable_auto_scale()
    return _pool_answer(emu, req)
