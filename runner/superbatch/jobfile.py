"""A :class:`ResolvedJob` to and from JSON, so a backend can store the job it runs.

The local backend keeps it in its state dir (to reconnect from another terminal); input
paths are stored absolute.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from superbatch.model import AggregateSpec, InputFile, RemoteFile, ResolvedJob, TaskSpec
from superbatch.policy import FailurePolicy

FileJson = list[str] | dict[str, Any]


def _files_json(files: tuple[InputFile | RemoteFile, ...]) -> list[FileJson]:
    return [
        [str(f.source), f.dest]
        if isinstance(f, InputFile)
        else {"url": f.url, "dest": f.dest, "etag": f.etag, "size": f.size, "source": f.source}
        for f in files
    ]


def _files(items: list[Any]) -> tuple[InputFile, ...]:
    return tuple(InputFile(Path(source), dest) for source, dest in items)


def _task_files(items: list[Any]) -> tuple[InputFile | RemoteFile, ...]:
    return tuple(
        RemoteFile(**item) if isinstance(item, dict) else InputFile(Path(item[0]), item[1])
        for item in items
    )


def job_to_json(job: ResolvedJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "name": job.name,
        "image": job.image,
        "outputs": list(job.outputs),
        "shared": _files_json(job.shared),
        "env": job.env,
        "retries": job.retries,
        "timeout_seconds": job.timeout.total_seconds() if job.timeout else None,
        "aggregate": (
            {
                "command": job.aggregate.command,
                "outputs": list(job.aggregate.outputs),
                "allow_failures": job.aggregate.allow_failures,
            }
            if job.aggregate
            else None
        ),
        "policy": {
            "retry_on_exit": (
                list(job.policy.retry_on_exit) if job.policy.retry_on_exit is not None else None
            ),
            "no_retry_on_exit": list(job.policy.no_retry_on_exit),
            "max_failures": job.policy.max_failures,
        },
        "pool": job.pool,
        "slots": job.slots,
        "tasks": [
            {
                "id": t.id,
                "command": t.command,
                "env": t.env,
                "inputs": _files_json(t.inputs),
                "label": t.label,
            }
            for t in job.tasks
        ],
    }


def job_from_json(data: dict[str, Any]) -> ResolvedJob:
    aggregate = data.get("aggregate")
    timeout = data.get("timeout_seconds")
    return ResolvedJob(
        job_id=data["job_id"],
        name=data["name"],
        image=data.get("image"),
        tasks=tuple(
            TaskSpec(
                t["id"],
                t["command"],
                dict(t["env"]),
                _task_files(t["inputs"]),
                t.get("label", ""),
            )
            for t in data["tasks"]
        ),
        outputs=tuple(data["outputs"]),
        shared=_files(data["shared"]),
        env=dict(data["env"]),
        retries=int(data["retries"]),
        timeout=timedelta(seconds=timeout) if timeout is not None else None,
        aggregate=(
            AggregateSpec(
                aggregate["command"],
                tuple(aggregate["outputs"]),
                int(aggregate.get("allow_failures", 0)),
            )
            if aggregate
            else None
        ),
        policy=_policy(data.get("policy") or {}),
        pool=data.get("pool"),
        slots=int(data.get("slots", 1)),
    )


def _policy(data: dict[str, Any]) -> FailurePolicy:
    retry_on = data.get("retry_on_exit")
    return FailurePolicy(
        tuple(retry_on) if retry_on is not None else None,
        tuple(data.get("no_retry_on_exit") or ()),
        data.get("max_failures"),
    )
