"""Which of the stack's pools a job runs on, checked before anything is created.

The stack output ``pools`` (superbatch.contract) names every pool with its task slots per
node; a stack from before ``pools`` has the one pool ``default``. A job names its pool with
``pool = "big"`` (default ``default``) and the task slots each task takes with ``slots``.
"""

from __future__ import annotations

from superbatch.contract import PoolInfo, StackOutputs
from superbatch.errors import SpecError
from superbatch.model import DEFAULT_POOL, ResolvedJob

# Container run option that gives a task every GPU of its node (Docker's --gpus; the
# node's NVIDIA container toolkit provides it on the default ubuntu-hpc image).
GPU_RUN_OPTIONS = "--gpus all"


def job_pool(job: ResolvedJob, outputs: StackOutputs) -> PoolInfo:
    """The pool ``job`` runs on; one-line :class:`SpecError` naming the stack's pools if none."""
    name = job.pool or DEFAULT_POOL
    names = ", ".join(outputs.pools)
    try:
        pool = outputs.pool(name)
    except KeyError:
        raise SpecError(
            f"job {job.name}: pool {name!r} is not one of the stack's pools ({names})"
            + ("; add it to the stack config `pools` and run `pulumi up`" if job.pool else "")
        ) from None
    if pool.slots is not None and job.slots > pool.slots:
        raise SpecError(
            f"job {job.name}: slots = {job.slots} is more than a node of pool {name} has "
            f"({pool.slots} task slots, {pool.vm_size}); pools: "
            + ", ".join(f"{p.name} ({p.slots} slots)" for p in outputs.pools.values())
        )
    return pool
