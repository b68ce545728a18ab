"""Creating a job on Batch: its options and the metadata every later command reads.

The metadata carries what ``status``, ``wait``, the watcher and ``results`` need from the
spec (task count, aggregate, image, pool) and its failure policy (``azure/policy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from superbatch.azure import policy as azure_policy
from superbatch.azure.errors import call_with_retries
from superbatch.azure.policy import META_TASKS
from superbatch.azure.wire import wire_enum
from superbatch.model import DEFAULT_POOL, ResolvedJob

if TYPE_CHECKING:
    from azure.batch import BatchClient

META_AGGREGATE = "superbatch_aggregate"
META_IMAGE = "superbatch_image"
META_POOL = "superbatch_pool"

__all__ = ["META_AGGREGATE", "META_IMAGE", "META_POOL", "META_TASKS"]


def ensure_job(batch: BatchClient, job: ResolvedJob, pool_id: str) -> tuple[bool, str]:
    """Create the job (``noaction`` until every task is added); (created here, its state)."""
    from azure.batch.models import (
        BatchJobConstraints,
        BatchJobCreateOptions,
        BatchMetadataItem,
        BatchPoolInfo,
        EnvironmentSetting,
    )
    from azure.core.exceptions import ResourceExistsError

    options = BatchJobCreateOptions(
        id=job.job_id,
        pool_info=BatchPoolInfo(pool_id=pool_id),
        all_tasks_complete_mode="noaction",
        uses_task_dependencies=job.aggregate is not None,
        constraints=BatchJobConstraints(max_task_retry_count=azure_policy.batch_retries(job)),
        common_environment_settings=[
            EnvironmentSetting(name=k, value=v) for k, v in job.env.items()
        ]
        or None,
        metadata=[
            BatchMetadataItem(name=META_TASKS, value=str(len(job.tasks))),
            BatchMetadataItem(name=META_AGGREGATE, value="1" if job.aggregate else "0"),
            BatchMetadataItem(name=META_IMAGE, value=job.image or ""),
            BatchMetadataItem(name=META_POOL, value=job.pool or DEFAULT_POOL),
            *azure_policy.metadata(job),
        ],
    )

    def create() -> bool:
        try:
            batch.create_job(options)
        except ResourceExistsError:  # ours from an earlier run, or a lost answer
            return False
        return True

    created = call_with_retries(
        create, action=f"create job {job.job_id} on pool {pool_id}", repeat=True
    )
    if created:
        return True, "active"
    job_state = call_with_retries(
        lambda: batch.get_job(job.job_id, select=["id", "state"]).state,
        action=f"find job {job.job_id}",
    )
    return False, wire_enum(job_state)


def finish_when_done(batch: BatchClient, job_id: str) -> None:
    """Every task is added: Batch ends the job once they all completed."""
    from azure.batch.models import BatchJobUpdateOptions

    options = BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
    call_with_retries(
        lambda: batch.update_job(job_id, options),
        action=f"update job {job_id}",
        repeat=True,
    )
