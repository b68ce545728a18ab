"""The failure policy on Azure Batch: what it can do as --local does, and how it is kept.

``max_failures`` and ``[aggregate] allow_failures`` are kept in the job's metadata, so any
``wait`` or ``status`` (from any terminal) applies them; ``allow_failures = true`` becomes
each task's ``exitConditions`` (a failure satisfies the aggregate's dependency).
``retry_on_exit`` / ``no_retry_on_exit`` and a numeric ``allow_failures`` have no Batch
equivalent and are refused before anything is created.
"""

from __future__ import annotations

from typing import Any

from superbatch.errors import SpecError
from superbatch.model import ResolvedJob
from superbatch.policy import ANY

META_ALLOW_FAILURES = "superbatch_allow_failures"  # [aggregate] allow_failures (-1: any)
META_MAX_FAILURES = "superbatch_max_failures"


def refuse_local_only(job: ResolvedJob) -> None:
    """What Batch cannot do the way --local does: said before anything is created."""
    if job.policy.retry_on_exit is not None or job.policy.no_retry_on_exit:
        raise SpecError(
            "retry_on_exit / no_retry_on_exit: Azure Batch retries every non-zero exit the "
            "same way (maxTaskRetryCount); run this spec with --local, or drop the key"
        )
    allow = job.aggregate.allow_failures if job.aggregate is not None else 0
    if allow not in (0, ANY):
        raise SpecError(
            f"[aggregate] allow_failures = {allow}: on Azure Batch a failed task either "
            "blocks the aggregate step or satisfies it; use allow_failures = true (and "
            "max_failures to stop early), or run with --local"
        )


def metadata(job: ResolvedJob) -> list[Any]:
    """The job metadata items that carry its policy (none for the default policy)."""
    from azure.batch.models import BatchMetadataItem

    items = []
    if job.aggregate is not None and job.aggregate.allow_failures:
        value = str(job.aggregate.allow_failures)
        items.append(BatchMetadataItem(name=META_ALLOW_FAILURES, value=value))
    if job.policy.max_failures is not None:
        items.append(BatchMetadataItem(name=META_MAX_FAILURES, value=str(job.policy.max_failures)))
    return items


def too_many(meta: dict[str, str], failed: int) -> bool:
    limit = meta.get(META_MAX_FAILURES)
    return limit is not None and failed > int(limit)
