"""Who may do what: the nodes' identity and the runner principal's access.

Least privilege, at the narrowest scope that works:
- nodes: AcrPull on the registry, Blob Data Reader on ``inputs``, Blob Data Contributor on
  ``outputs``; nothing else (they cannot touch the Batch account or other blobs);
- runner: Batch Job Submitter on the account, Blob Data Contributor on both containers,
  AcrPush on the registry;
- both: Blob Data Reader on each data container of the stack config ``dataContainers``
  (``az://`` inputs: the runner lists them, the nodes read them), and nothing wider.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

from infra import roles


@dataclass(frozen=True)
class NodeIdentityArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    identity_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    inputs_container_id: pulumi.Input[str]
    outputs_container_id: pulumi.Input[str]
    tags: dict[str, str]
    data_container_ids: tuple[pulumi.Input[str], ...] = ()


class NodeIdentity(pulumi.ComponentResource):
    """User-assigned identity the pool's nodes use for registry pulls, inputs and outputs."""

    resource_id: pulumi.Output[str]
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    role_assignments: list[pulumi.Resource]

    def __init__(
        self, name: str, args: NodeIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:NodeIdentity", name, None, opts)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=args.resource_group_name,
            resource_name_=args.identity_name,
            location=args.location,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.resource_id = identity.id
        self.client_id = identity.client_id
        self.principal_id = identity.principal_id

        nodes = roles.Grantee.managed_identity(
            name, identity, subscription_id=args.subscription_id, parent=self
        )
        self.role_assignments = [
            nodes.grant("acr-pull", roles.ACR_PULL, args.registry_id),
            nodes.grant("inputs-reader", roles.STORAGE_BLOB_DATA_READER, args.inputs_container_id),
            nodes.grant(
                "outputs-writer", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, args.outputs_container_id
            ),
            *grant_data_readers(nodes, args.data_container_ids),
        ]
        self.register_outputs({"resource_id": self.resource_id, "client_id": self.client_id})


@dataclass(frozen=True)
class RunnerAccessArgs:
    principal_id: pulumi.Input[str]
    principal_type: authorization.PrincipalType
    subscription_id: pulumi.Input[str]
    batch_account_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    inputs_container_id: pulumi.Input[str]
    outputs_container_id: pulumi.Input[str]
    data_container_ids: tuple[pulumi.Input[str], ...] = ()


class RunnerAccess(pulumi.ComponentResource):
    """Roles for whoever runs ``superbatch run`` (the deploying user, or a CI principal)."""

    role_assignments: list[pulumi.Resource]

    def __init__(
        self, name: str, args: RunnerAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:RunnerAccess", name, None, opts)

        runner = roles.Grantee(
            name, args.principal_id, args.principal_type, args.subscription_id, parent=self
        )
        writer = roles.STORAGE_BLOB_DATA_CONTRIBUTOR
        self.role_assignments = [
            runner.grant("job-submitter", roles.BATCH_JOB_SUBMITTER, args.batch_account_id),
            runner.grant("inputs-writer", writer, args.inputs_container_id),
            runner.grant("outputs-writer", writer, args.outputs_container_id),
            runner.grant("acr-push", roles.ACR_PUSH, args.registry_id),
            # `superbatch image import`: the registry copies a public image in itself.
            runner.grant("acr-import", roles.ACR_DATA_IMPORTER, args.registry_id),
            *grant_data_readers(runner, args.data_container_ids),
        ]
        self.register_outputs({})


def grant_data_readers(
    grantee: roles.Grantee, container_ids: tuple[pulumi.Input[str], ...]
) -> list[authorization.RoleAssignment]:
    """Storage Blob Data Reader on each data container, at container scope (never wider)."""
    return [
        grantee.grant(f"data-reader-{index}", roles.STORAGE_BLOB_DATA_READER, container_id)
        for index, container_id in enumerate(container_ids)
    ]
