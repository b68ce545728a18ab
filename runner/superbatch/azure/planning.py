"""``run --dry-run`` on Azure Batch: the plan, from reads only (blob metadata, the job and
its tasks if it exists, the pool); nothing is created or uploaded."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from superbatch import plan as planning
from superbatch.azure import staging, submit
from superbatch.azure.errors import call_with_retries
from superbatch.azure.wire import wire_enum
from superbatch.errors import JobNotFoundError
from superbatch.model import AGGREGATE_TASK_ID, ResolvedJob

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import ContainerClient


def plan_job(
    client: BatchClient,
    inputs: ContainerClient,
    job: ResolvedJob,
    *,
    pool_id: str,
    staging_concurrency: int,
) -> planning.Plan:
    uploads = staging.plan_uploads(inputs, job, concurrency=staging_concurrency)
    try:
        call_with_retries(
            lambda: wire_enum(client.get_job(job.job_id, select=["id", "state"]).state),
            action=f"find job {job.job_id}",
        )
        exists = True
    except JobNotFoundError:
        exists = False
    present = submit.existing_task_ids(client, job.job_id) if exists else set()
    missing = [task for task in job.tasks if task.id not in present]
    pool = call_with_retries(
        lambda: client.get_pool(pool_id, select=["id", "taskSlotsPerNode", "autoScaleFormula"]),
        action=f"read pool {pool_id}",
    )
    slots = pool.task_slots_per_node or 1
    nodes = planning.expected_nodes(len(job.tasks), slots)
    max_nodes = formula_max_nodes(pool.auto_scale_formula)
    if max_nodes is not None:
        nodes = min(nodes, max_nodes)
    adds_aggregate = job.aggregate is not None and AGGREGATE_TASK_ID not in present
    batch_requests = (
        (0 if exists else 1)
        + -(-len(missing) // submit.MAX_TASKS_PER_REQUEST)
        + int(adds_aggregate)
        + 1  # the switch to terminatejob
    )
    sizes = {blob.source: blob.size for blob in uploads.blobs}
    return planning.Plan(
        job_id=job.job_id,
        backend="azure",
        tasks=len(job.tasks),
        preview=planning.preview(job),
        aggregate=job.aggregate is not None,
        exists=exists,
        tasks_to_add=len(missing) + int(adds_aggregate),
        files=len(uploads.blobs),
        bytes_total=sum(sizes.values()),
        files_new=len(uploads.uploads) + len(uploads.copies),
        bytes_new=sum(blob.size for blob in uploads.uploads),
        files_staged=uploads.skipped,
        requests={
            "storage": int(bool(uploads.blobs)) + len(uploads.uploads) + len(uploads.copies),
            "batch": batch_requests,
        },
        slots_per_node=slots,
        nodes=nodes,
    )


def formula_max_nodes(formula: str | None) -> int | None:
    """``maxNodes = N;`` of the formula infra/ writes, if the pool has that formula."""
    found = re.search(r"^maxNodes\s*=\s*(\d+)\s*;", formula or "", re.MULTILINE)
    return int(found.group(1)) if found else None
