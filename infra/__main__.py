"""Pulumi entry point: one Batch environment per stack, wired from its settings.

Pulumi runs this folder (``main: infra/``) with only the folder itself on ``sys.path``; the
project root is added so the modules import as the ``infra`` package, as they do in tests,
and ``runner/`` for the two standard-library-only modules of the runner the program shares
(``superbatch.contract``, ``superbatch.errors``): the program's environment (infra/.venv,
from infra/pyproject.toml) holds Pulumi, not the runner.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runner"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
from pulumi_azure_native import resources

from infra.batch_account import BatchAccountArgs, BatchEnvironmentAccount
from infra.identity import NodeIdentity, NodeIdentityArgs, RunnerAccess, RunnerAccessArgs
from infra.naming import pool_id
from infra.pool import ContainerPool, ContainerPoolArgs
from infra.pool_access import RunnerPoolAccess, RunnerPoolAccessArgs
from infra.pools import DEFAULT_POOL
from infra.registry import ImageRegistry, ImageRegistryArgs
from infra.settings import load_settings
from infra.stack import data_container_id, export_stack_outputs, pools_output, stack_context
from infra.storage import INPUTS_CONTAINER, OUTPUTS_CONTAINER, JobStorage, JobStorageArgs


def main() -> None:
    settings = load_settings()
    target = stack_context(settings)
    names, tags, subscription_id = target.names, target.tags, target.subscription_id

    group = resources.ResourceGroup(
        "group",
        resource_group_name=names.resource_group,
        location=settings.location,
        tags=tags,
        opts=pulumi.ResourceOptions(protect=settings.protect),
    )
    data_container_ids = tuple(
        data_container_id(container, subscription_id) for container in settings.data_containers
    )
    data = JobStorage(
        "storage",
        JobStorageArgs(
            resource_group_name=group.name,
            location=settings.location,
            account_name=names.storage_account,
            retention_days=settings.retention_days,
            protect=settings.protect,
            tags=tags,
        ),
    )
    registry = ImageRegistry(
        "images",
        ImageRegistryArgs(
            resource_group_name=group.name,
            location=settings.location,
            registry_name=names.registry,
            protect=settings.protect,
            tags=tags,
        ),
    )
    nodes = NodeIdentity(
        "nodes",
        NodeIdentityArgs(
            resource_group_name=group.name,
            location=settings.location,
            identity_name=names.node_identity,
            subscription_id=subscription_id,
            registry_id=registry.registry_id,
            inputs_container_id=data.inputs_container_id,
            outputs_container_id=data.outputs_container_id,
            tags=tags,
            data_container_ids=data_container_ids,
        ),
    )
    account = BatchEnvironmentAccount(
        "batch",
        BatchAccountArgs(
            resource_group_name=group.name,
            location=settings.location,
            account_name=names.batch_account,
            identity_name=names.account_identity,
            subscription_id=subscription_id,
            storage_account_id=data.account_id,
            node_identity_id=nodes.resource_id,
            protect=settings.protect,
            tags=tags,
        ),
    )
    RunnerAccess(
        "runner",
        RunnerAccessArgs(
            principal_id=target.runner_principal_id,
            principal_type=target.runner_principal_type,
            subscription_id=subscription_id,
            batch_account_id=account.account_id,
            registry_id=registry.registry_id,
            inputs_container_id=data.inputs_container_id,
            outputs_container_id=data.outputs_container_id,
            data_container_ids=data_container_ids,
        ),
    )
    # One pool per entry of `pools` ("pool" keeps the single-pool stacks' logical name, so
    # their pool is neither renamed nor replaced).
    pools = {
        pool.name: ContainerPool(
            "pool" if pool.name == DEFAULT_POOL else f"pool-{pool.name}",
            ContainerPoolArgs(
                resource_group_name=group.name,
                account_name=account.account_name,
                pool_id=pool_id(settings.prefix, target.stack, pool.name),
                settings=pool,
                registry_login_server=registry.login_server,
                node_identity_id=nodes.resource_id,
                role_assignments=nodes.role_assignments,
            ),
        )
        for pool in settings.pools
    }

    RunnerPoolAccess(
        "runner-pools",
        RunnerPoolAccessArgs(
            principal_id=target.runner_principal_id,
            principal_type=target.runner_principal_type,
            subscription_id=subscription_id,
            batch_account_id=account.account_id,
            batch_account_name=account.account_name,
            pools=[(name, pool.resource_id) for name, pool in pools.items()],
        ),
    )

    # The contract with the runner (superbatch.contract): exactly these names, no secrets.
    export_stack_outputs(
        {
            "batch_account_endpoint": account.endpoint,
            "batch_account_name": account.account_name,
            "pool_id": pools[DEFAULT_POOL].pool_id,
            "pools": pools_output(settings.pools, {n: p.pool_id for n, p in pools.items()}),
            "storage_account_name": data.account_name,
            "blob_endpoint": data.blob_endpoint,
            "inputs_container": INPUTS_CONTAINER,
            "inputs_container_url": data.inputs_container_url,
            "outputs_container": OUTPUTS_CONTAINER,
            "outputs_container_url": data.outputs_container_url,
            "registry_login_server": registry.login_server,
            "node_identity_resource_id": nodes.resource_id,
            "node_identity_client_id": nodes.client_id,
            "resource_group": group.name,
            "location": settings.location,
            "data_containers": {c.key: c.url for c in settings.data_containers},
        }
    )


if __name__ == "__main__":
    main()
