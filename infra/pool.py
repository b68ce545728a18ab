"""A container pool tasks run on: idles at zero nodes, pulls images as the nodes' identity.

One per entry of the stack's ``pools`` (infra.pools); each is its own resource with its own
formula and replace rules, so changing one pool replaces only that pool. GPU pools need
nothing more on the pool: the default image (microsoft-dsvm ubuntu-hpc) ships the NVIDIA
driver and the NVIDIA container toolkit (Azure/azhpc-images, ``ubuntu/common/
install_nvidiagpudriver.sh``, ``install_nvidia_container_toolkit.sh``); tasks ask for the
GPUs with ``--gpus all`` in their container run options (the runner adds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import batch

from infra.autoscale import autoscale_formula
from infra.pools import PoolSettings
from superbatch.images.resolve import resolve_image  # the runner's grammar, not a copy

# The node image with the NVIDIA driver and container toolkit that GPU tasks need.
GPU_IMAGE = ("microsoft-dsvm", "ubuntu-hpc")

# Pool inputs Batch cannot change in place while the pool has nodes (PropertyCannotBeUpdated;
# since API 2024-07-01 some are accepted only at zero nodes, and identity changes never reach
# existing nodes). Changing any of them replaces the pool instead of failing the update. Only
# scaleSettings, startTask, metadata, applicationPackages and certificates update in place.
REPLACE_ON_CHANGES = (
    "vmSize",
    "deploymentConfiguration",
    "identity",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "interNodeCommunication",
    "targetNodeCommunicationMode",
    "mountConfiguration",
    "userAccounts",
)


@dataclass(frozen=True)
class ContainerPoolArgs:
    resource_group_name: pulumi.Input[str]
    account_name: pulumi.Input[str]
    pool_id: pulumi.Input[str]
    settings: PoolSettings
    registry_login_server: pulumi.Input[str]
    node_identity_id: pulumi.Input[str]
    # The pool must not start nodes before they may pull images and read inputs.
    role_assignments: Sequence[pulumi.Resource]


class ContainerPool(pulumi.ComponentResource):
    """Batch pool running tasks in containers from the stack's registry."""

    pool_id: pulumi.Output[str]
    resource_id: pulumi.Output[str]
    formula: str

    def __init__(
        self, name: str, args: ContainerPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:ContainerPool", name, None, opts)
        pool_settings = args.settings
        if pool_settings.spot == "spot":
            pulumi.log.warn(
                f"pool {pool_settings.name}: spot=true: the pool uses Spot nodes, and a Batch "
                "account's Spot (low-priority) core quota can be 0: check the account's Quotas "
                "page before running jobs (spot: fallback makes up missing Spot nodes with "
                "dedicated ones).",
                resource=self,
            )
        if pool_settings.size is None and pool_settings.task_slots_per_node > 1:
            # no guess: Batch allows at most 4 slots per vCPU, and we cannot tell the vCPUs
            pulumi.log.warn(
                f"pool {pool_settings.name}: taskSlotsPerNode={pool_settings.task_slots_per_node}"
                f" is not checked: the vCPUs of vmSize {pool_settings.vm_size!r} are unknown, and"
                " Batch refuses more than 4 per vCPU when it creates the pool",
                resource=self,
            )
        if pool_settings.gpu and (pool_settings.image.publisher, pool_settings.image.offer) != (
            GPU_IMAGE
        ):
            pulumi.log.warn(
                f"pool {pool_settings.name}: gpu=true with the image "
                f"{pool_settings.image.publisher}/{pool_settings.image.offer}: tasks see the GPUs "
                "only if it has the NVIDIA driver and container toolkit (microsoft-dsvm/ubuntu-hpc "
                "has both)",
                resource=self,
            )
        self.formula = autoscale_formula(
            max_nodes=pool_settings.max_nodes,
            task_slots_per_node=pool_settings.task_slots_per_node,
            spot=pool_settings.spot,
            warm_minutes=pool_settings.warm_minutes,
        )
        image = pool_settings.image
        login_server = pulumi.Output.from_input(args.registry_login_server)
        prefetch = login_server.apply(
            lambda server: [resolve_image(ref, server) for ref in pool_settings.prefetch_images]
        )
        pool = batch.Pool(
            f"{name}-pool",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            pool_name=args.pool_id,
            vm_size=pool_settings.vm_size,
            task_slots_per_node=pool_settings.task_slots_per_node,
            task_scheduling_policy={"node_fill_type": batch.ComputeNodeFillType.PACK},
            identity={
                "type": batch.PoolIdentityType.USER_ASSIGNED,
                "user_assigned_identities": [args.node_identity_id],
            },
            deployment_configuration={
                "virtual_machine_configuration": {
                    "image_reference": {
                        "publisher": image.publisher,
                        "offer": image.offer,
                        "sku": image.sku,
                        "version": image.version,
                    },
                    "node_agent_sku_id": image.node_agent_sku_id,
                    "os_disk": {"disk_size_gb": pool_settings.os_disk_size_gb},
                    "container_configuration": {
                        "type": batch.ContainerType.DOCKER_COMPATIBLE,
                        "container_image_names": prefetch,
                        # Pulls authenticate as the node identity (AcrPull): no registry password.
                        "container_registries": [
                            {
                                "registry_server": login_server,
                                "identity_reference": {"resource_id": args.node_identity_id},
                            }
                        ],
                    },
                }
            },
            scale_settings={
                "auto_scale": {
                    "formula": self.formula,
                    "evaluation_interval": f"PT{pool_settings.autoscale_interval_minutes}M",
                }
            },
            # Nodes connect out to Batch; no inbound endpoint is opened (API 2024-07-01 maps
            # no SSH port by default, and no network configuration adds one).
            target_node_communication_mode=batch.NodeCommunicationMode.SIMPLIFIED,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.role_assignments),
                replace_on_changes=list(REPLACE_ON_CHANGES),
                # The pool id is fixed, so the old pool must go before its replacement comes.
                delete_before_replace=True,
            ),
        )
        self.pool_id = pool.name
        self.resource_id = pool.id
        self.register_outputs({"pool_id": self.pool_id})
