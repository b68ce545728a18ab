"""The container pool tasks run on: idles at zero nodes, pulls images as the nodes' identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import batch

from infra.autoscale import autoscale_formula
from infra.settings import PoolImage
from superbatch.images.resolve import resolve_image  # the runner's grammar, not a copy

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
    vm_size: str
    image: PoolImage
    os_disk_size_gb: int
    task_slots_per_node: int
    max_nodes: int
    spot: bool
    autoscale_interval_minutes: int
    prefetch_images: Sequence[str]
    registry_login_server: pulumi.Input[str]
    node_identity_id: pulumi.Input[str]
    # The pool must not start nodes before they may pull images and read inputs.
    role_assignments: Sequence[pulumi.Resource]


class ContainerPool(pulumi.ComponentResource):
    """Batch pool running tasks in containers from the stack's registry."""

    pool_id: pulumi.Output[str]
    formula: str

    def __init__(
        self, name: str, args: ContainerPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:ContainerPool", name, None, opts)
        if args.spot:
            pulumi.log.warn(
                "spot=true: the pool uses Spot nodes, and a Batch account's Spot (low-priority) "
                "core quota can be 0: check the account's Quotas page before running jobs.",
                resource=self,
            )
        self.formula = autoscale_formula(
            max_nodes=args.max_nodes, task_slots_per_node=args.task_slots_per_node, spot=args.spot
        )
        login_server = pulumi.Output.from_input(args.registry_login_server)
        prefetch = login_server.apply(
            lambda server: [resolve_image(ref, server) for ref in args.prefetch_images]
        )
        pool = batch.Pool(
            f"{name}-pool",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            pool_name=args.pool_id,
            vm_size=args.vm_size,
            task_slots_per_node=args.task_slots_per_node,
            task_scheduling_policy={"node_fill_type": batch.ComputeNodeFillType.PACK},
            identity={
                "type": batch.PoolIdentityType.USER_ASSIGNED,
                "user_assigned_identities": [args.node_identity_id],
            },
            deployment_configuration={
                "virtual_machine_configuration": {
                    "image_reference": {
                        "publisher": args.image.publisher,
                        "offer": args.image.offer,
                        "sku": args.image.sku,
                        "version": args.image.version,
                    },
                    "node_agent_sku_id": args.image.node_agent_sku_id,
                    "os_disk": {"disk_size_gb": args.os_disk_size_gb},
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
                    "evaluation_interval": f"PT{args.autoscale_interval_minutes}M",
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
        self.register_outputs({"pool_id": self.pool_id})
