"""What the program works out about its stack before wiring components, and how it exports.

Kept out of ``__main__.py``, which only wires the components together and exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from infra.naming import StackNames, stack_names
from infra.pools import PoolSettings
from infra.settings import DataContainer, Settings
from superbatch.contract import OUTPUT_NAMES, PoolInfo


@dataclass(frozen=True)
class StackContext:
    """The deployment target of one stack: subscription, physical names, tags, runner."""

    stack: str
    subscription_id: pulumi.Output[str]
    names: pulumi.Output[StackNames]
    tags: dict[str, str]
    runner_principal_id: pulumi.Input[str]
    runner_principal_type: authorization.PrincipalType


def stack_context(settings: Settings) -> StackContext:
    """Ask Azure (once) who deploys where, and derive the stack's names from the answer."""
    stack = pulumi.get_stack()
    client = authorization.get_client_config_output()
    # Names hash the subscription in, so they are only known once the invoke has answered.
    names = client.subscription_id.apply(
        lambda subscription: stack_names(
            prefix=settings.prefix, stack=stack, subscription_id=subscription
        )
    )
    return StackContext(
        stack=stack,
        subscription_id=client.subscription_id,
        names=names,
        tags={"app": "superbatch", "superbatch-stack": stack},
        # No runner principal configured: whoever runs `pulumi up` runs the jobs.
        runner_principal_id=settings.runner_principal_id or client.object_id,
        runner_principal_type=authorization.PrincipalType(settings.runner_principal_type),
    )


def pools_output(
    pools: Sequence[PoolSettings], ids: Mapping[str, pulumi.Input[str]]
) -> pulumi.Output[dict[str, Any]]:
    """The ``pools`` output: what a job needs to choose its pool and be checked against it."""

    def describe(pool: PoolSettings, pool_id: str) -> dict[str, Any]:
        size = pool.size
        return PoolInfo(
            name=pool.name,
            id=pool_id,
            vm_size=pool.vm_size,
            cores=size.cores if size else None,
            memory_gb=size.memory_gb if size else None,
            gpus=size.gpus if size else None,
            gpu=pool.gpu,
            slots=pool.task_slots_per_node,
            max_nodes=pool.max_nodes,
            spot=pool.spot,
            price_per_node_hour=pool.price_per_node_hour,
        ).to_output()

    return pulumi.Output.all(
        **{pool.name: pulumi.Output.from_input(ids[pool.name]) for pool in pools}
    ).apply(lambda resolved: {pool.name: describe(pool, resolved[pool.name]) for pool in pools})


def data_container_id(
    container: DataContainer, subscription_id: pulumi.Input[str]
) -> pulumi.Output[str]:
    """ARM id of a data container: the scope of its reader roles (nothing wider)."""
    return pulumi.Output.concat(
        "/subscriptions/",
        container.subscription_id or subscription_id,
        f"/resourceGroups/{container.resource_group}/providers/Microsoft.Storage/"
        f"storageAccounts/{container.account}/blobServices/default/containers/"
        f"{container.container}",
    )


def export_stack_outputs(outputs: Mapping[str, pulumi.Input[Any]]) -> None:
    """Export ``outputs``, which must be exactly the runner's contract (superbatch.contract).

    The contract's order is kept, so ``pulumi stack output`` lists them as the runner reads them.
    """
    if set(outputs) != set(OUTPUT_NAMES):
        raise AssertionError(
            f"outputs differ from superbatch.contract: {sorted(set(outputs) ^ set(OUTPUT_NAMES))}"
        )
    for name in OUTPUT_NAMES:
        pulumi.export(name, outputs[name])
