"""Batch task bodies for a resolved job, in the REST wire format (``addtaskcollection``).

Built as plain dicts and serialized once: at 100,000 tasks the SDK's model objects cost
more memory and time than the requests themselves. ``tests/azure/test_tasks.py`` checks
that these dicts are exactly what the SDK's own models serialize to.

What every task gets:
- its command run by ``/bin/sh -c`` (Batch runs command lines without a shell);
- one resource file for its own inputs (``<job>/tasks/<task>/``) and one for the shared
  files (``<job>/shared/``), container URL + prefix + the pool's identity (no SAS).
  Batch keeps the full blob name under ``filePath``, so a short shell prologue hard-links
  the files into place (``cp -al``: no bytes copied) before the user's command runs;
- output files uploaded with the pool's identity to ``<job>/<task>/...`` and its stdout
  and stderr to ``_logs/<job>/<task>/`` on completion, so logs outlive the node (apart from
  the outputs: the aggregate step's prefix ``<job>/`` brings it outputs, never logs).
The aggregate task (``_aggregate``) depends on every task and gets the whole outputs tree
of the job, rearranged as ``results/<task>/...`` (the layout ``--local`` gives it).
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from superbatch.azure.policy import batch_retries, deferred_aggregate
from superbatch.azure.pools import GPU_RUN_OPTIONS
from superbatch.azure.staging import shared_prefix, task_prefix
from superbatch.container_command import CLEAR_ENTRYPOINT, SHELL
from superbatch.contract import PoolInfo, StackOutputs
from superbatch.errors import SpecError
from superbatch.model import (
    AGGREGATE_LABEL,
    AGGREGATE_TASK_ID,
    DEFAULT_POOL,
    InputFile,
    RemoteFile,
    ResolvedJob,
    TaskSpec,
)

STAGING_DIR = ".superbatch"
LOGS_DIR = "_logs"
_WILDCARD = re.compile(r"[*?\[]")

Body = dict[str, Any]
_NO_POOL = PoolInfo("", "", None, None, None, None, None, None, None)


def iso_duration(value: timedelta) -> str:
    """ISO-8601 duration as Batch wants it (``PT30M``, ``P1DT2H``)."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = "".join(
        f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if amount
    )
    if not days and not time_part:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")


@functools.lru_cache(maxsize=16)
def resolved_image(image: str, registry_login_server: str) -> str:
    """The reference Batch pulls (images' rules); raises SpecError for a bad or unpinned one."""
    from superbatch.images.resolve import resolve_image

    return resolve_image(image, registry_login_server)


IMAGE_REQUIRED = (
    "job {job}: Azure Batch runs every task in a container image and this spec names none: "
    'add image = "docker.io/library/python:3.12-slim" (any full reference with a tag), '
    "or your own from `superbatch image build` / `superbatch image push --stack NAME`"
)


def require_image(job: ResolvedJob) -> str:
    """Refuse an image-less job before anything is uploaded.

    The stack's pool is a container pool, and Batch fails every task without
    ``containerSettings`` on such a pool (``ContainerTaskSettingsNotFound``) only once a
    node picks it up, minutes later. There is no image we could pick for the user that
    would hold their code's dependencies, so we ask for one instead of guessing.
    """
    if not job.image:
        raise SpecError(IMAGE_REQUIRED.format(job=job.name))
    return job.image


def output_base(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard ("" for the working dir)."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if _WILDCARD.search(part):
            break
        fixed.append(part)
    else:
        if not _WILDCARD.search(parts[-1]):
            return pattern  # no wildcard: the pattern is one file
    return "/".join(fixed)


def _identity(outputs: StackOutputs) -> dict[str, str]:
    return {"resourceId": outputs.node_identity_resource_id}


def _output_file(
    outputs: StackOutputs, pattern: str, path: str, condition: str = "taskcompletion"
) -> Body:
    return {
        "filePattern": pattern,
        "destination": {
            "container": {
                "containerUrl": outputs.outputs_container_url,
                "path": path,
                "identityReference": _identity(outputs),
            }
        },
        "uploadOptions": {"uploadCondition": condition},
    }


def output_files(
    job_id: str,
    task_id: str,
    patterns: Sequence[str],
    outputs: StackOutputs,
    *,
    success_only: bool = False,
) -> list[Body]:
    """Outputs by pattern (``success_only``: only from a task that succeeded), and its logs."""
    condition = "tasksuccess" if success_only else "taskcompletion"
    files = []
    for pattern in patterns:
        base = output_base(pattern)
        path = f"{job_id}/{task_id}/{base}".rstrip("/")
        files.append(_output_file(outputs, pattern, path, condition))
    files.append(_output_file(outputs, "../std*.txt", f"{LOGS_DIR}/{job_id}/{task_id}"))
    return files


def _resource_file(container_url: str, prefix: str, outputs: StackOutputs, into: str) -> Body:
    return {
        "storageContainerUrl": container_url,
        "blobPrefix": prefix,
        "filePath": into,
        "identityReference": _identity(outputs),
    }


def _blob_file(item: RemoteFile, outputs: StackOutputs) -> Body:
    return {"httpUrl": item.url, "filePath": item.dest, "identityReference": _identity(outputs)}


def _link_into(source: str, target: str) -> str:
    """Shell: hard-link the tree at ``source`` into ``target`` when it exists.

    Falls back to a real copy where hard links are refused (a non-root container user and
    files the node agent wrote, with ``fs.protected_hardlinks``).
    """
    src, dst = shlex.quote(source), shlex.quote(target)
    return (
        f"if [ -d {src} ]; then mkdir -p {dst} && "
        f"{{ cp -al {src}/. {dst}/ 2>/dev/null || cp -pR {src}/. {dst}/; }}; fi"
    )


def _forget(path: str) -> str:
    return f"{{ rm -rf {path} 2>/dev/null || true; }}"


def command_line(script: str) -> str:
    return " ".join(SHELL) + " " + shlex.quote(script)


def _common(job: ResolvedJob, outputs: StackOutputs) -> Body:
    body: Body = {
        "containerSettings": {
            "imageName": resolved_image(require_image(job), outputs.registry_login_server),
            "containerRunOptions": CLEAR_ENTRYPOINT,  # /bin/sh -c runs, as locally
            "workingDirectory": "taskWorkingDirectory",
        }
    }
    if outputs.pools.get(job.pool or DEFAULT_POOL, _NO_POOL).gpu:
        body["containerSettings"]["containerRunOptions"] += " " + GPU_RUN_OPTIONS
    if job.slots != 1:
        body["requiredSlots"] = job.slots
    # 0 where the runner decides which exits are retried (azure/policy.py)
    constraints: Body = {"maxTaskRetryCount": batch_retries(job)}
    if job.timeout is not None:
        constraints["maxWallClockTime"] = iso_duration(job.timeout)
    body["constraints"] = constraints
    return body


def task_body(job: ResolvedJob, task: TaskSpec, outputs: StackOutputs) -> Body:
    inputs_dir = f"{STAGING_DIR}/inputs"
    resource_files = []
    steps = []
    if job.shared:
        prefix = shared_prefix(job.job_id)
        resource_files.append(
            _resource_file(outputs.inputs_container_url, prefix, outputs, inputs_dir)
        )
        steps.append(_link_into(f"{inputs_dir}/{prefix.rstrip('/')}", "."))
    if any(isinstance(item, InputFile) for item in task.inputs):
        prefix = task_prefix(job.job_id, task.id)
        resource_files.append(
            _resource_file(outputs.inputs_container_url, prefix, outputs, inputs_dir)
        )
        steps.append(_link_into(f"{inputs_dir}/{prefix.rstrip('/')}", "."))
    if steps:
        steps.append(_forget(STAGING_DIR))
    # Blobs already in storage come straight from there, one exact URL each (a container
    # prefix would also bring every blob whose name merely starts with this one's).
    resource_files += [
        _blob_file(item, outputs) for item in task.inputs if isinstance(item, RemoteFile)
    ]
    body: Body = {"id": task.id, "commandLine": command_line(_script(steps, task.command))}
    if task.label:  # Batch keeps it (<= 1024 chars): `tasks` and `status` show it from there
        body["displayName"] = task.label
    body.update(_common(job, outputs))
    if resource_files:
        body["resourceFiles"] = resource_files
    allowed = job.aggregate is not None and job.aggregate.allow_failures != 0
    body["outputFiles"] = output_files(
        job.job_id, task.id, job.outputs, outputs, success_only=allowed
    )
    if allowed and not deferred_aggregate(job):
        # a failed task satisfies the aggregate's dependency instead of blocking it
        body["exitConditions"] = {"default": {"dependencyAction": "satisfy"}}
    if task.env:
        body["environmentSettings"] = [{"name": k, "value": v} for k, v in task.env.items()]
    return body


def aggregate_body(job: ResolvedJob, outputs: StackOutputs) -> Body:
    """The reduce step: shared files like every task, and ``results/<task>/...`` of all."""
    assert job.aggregate is not None
    results_dir = f"{STAGING_DIR}/results"
    resource_files = [
        _resource_file(outputs.outputs_container_url, f"{job.job_id}/", outputs, results_dir)
    ]
    steps = []
    if job.shared:
        prefix = shared_prefix(job.job_id)
        inputs_dir = f"{STAGING_DIR}/inputs"
        resource_files.append(
            _resource_file(outputs.inputs_container_url, prefix, outputs, inputs_dir)
        )
        steps.append(_link_into(f"{inputs_dir}/{prefix.rstrip('/')}", "."))
    steps += [
        "mkdir -p results",
        _link_into(f"{results_dir}/{job.job_id}", "results"),
        _forget(f"results/{AGGREGATE_TASK_ID} {STAGING_DIR}"),
    ]
    body: Body = {
        "id": AGGREGATE_TASK_ID,
        "displayName": AGGREGATE_LABEL,
        "commandLine": command_line(_script(steps, job.aggregate.command)),
    }
    body.update(_common(job, outputs))
    body["resourceFiles"] = resource_files
    body["outputFiles"] = output_files(
        job.job_id, AGGREGATE_TASK_ID, job.aggregate.outputs, outputs
    )
    if not deferred_aggregate(job):  # else the monitor adds it once every task ended
        body["dependsOn"] = depends_on_all([task.id for task in job.tasks])
    return body


def depends_on_all(task_ids: Sequence[str]) -> Body:
    """Integer ids as ranges (a handful of entries even for 100,000 tasks), others by id."""
    numbers = sorted(int(t) for t in task_ids if t.isdigit() and str(int(t)) == t)
    others = [t for t in task_ids if not (t.isdigit() and str(int(t)) == t)]
    ranges: list[Body] = []
    for number in numbers:
        if ranges and ranges[-1]["end"] == number - 1:
            ranges[-1]["end"] = number
        else:
            ranges.append({"start": number, "end": number})
    depends: Body = {}
    if ranges:
        depends["taskIdRanges"] = ranges
    if others:
        depends["taskIds"] = others
    return depends


def _script(steps: list[str], command: str) -> str:
    if not steps:
        return command
    return " && ".join(f"{{ {step}; }}" if step.startswith("if ") else step for step in steps) + (
        f" && {{ {command}\n}}"
    )


def serialized_bodies(
    job: ResolvedJob,
    outputs: StackOutputs,
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    aggregate: bool = True,
) -> Iterator[tuple[str, bytes]]:
    """(task id, JSON bytes) for every task not in ``skip``, the aggregate last; lazily."""
    for task in job.tasks:
        if task.id not in skip:
            yield task.id, serialized(task_body(job, task, outputs))
    if aggregate and job.aggregate is not None and AGGREGATE_TASK_ID not in skip:
        yield AGGREGATE_TASK_ID, serialized(aggregate_body(job, outputs))


def serialized(body: Body) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
