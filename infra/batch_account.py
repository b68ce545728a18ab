"""The Batch account: Entra ID only, with auto-storage reached through a managed identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import batch, managedidentity

from infra import roles


@dataclass(frozen=True)
class BatchAccountArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]
    identity_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    node_identity_id: pulumi.Input[str]
    protect: bool
    tags: dict[str, str]


class BatchEnvironmentAccount(pulumi.ComponentResource):
    """Batch account in BatchService allocation mode, without shared keys."""

    account_id: pulumi.Output[str]
    account_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]

    def __init__(
        self, name: str, args: BatchAccountArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:BatchEnvironmentAccount", name, None, opts)
        # The account reaches its auto-storage account as this identity. Azure checks that
        # access when the account is created (else AutoStorageNoPermission), so the identity
        # and its role must exist first: hence a user-assigned identity, not a system one.
        # It is separate from the nodes' identity, which must stay limited to two containers.
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=args.resource_group_name,
            resource_name_=args.identity_name,
            location=args.location,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        account_identity = roles.Grantee.managed_identity(
            name, identity, subscription_id=args.subscription_id, parent=self
        )
        self.storage_access = account_identity.grant(
            "auto-storage", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, args.storage_account_id
        )
        managed_identity = batch.AutoStorageAuthenticationMode.BATCH_ACCOUNT_MANAGED_IDENTITY
        account = batch.BatchAccount(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            location=args.location,
            pool_allocation_mode=batch.PoolAllocationMode.BATCH_SERVICE,
            # Entra ID only: no shared account keys to leak, rotate or put in config.
            allowed_authentication_modes=[batch.AuthenticationMode.AAD],
            identity={
                "type": batch.ResourceIdentityType.USER_ASSIGNED,
                "user_assigned_identities": [identity.id],
            },
            auto_storage={
                "storage_account_id": args.storage_account_id,
                "authentication_mode": managed_identity,
                "node_identity_reference": {"resource_id": args.node_identity_id},
            },
            public_network_access=batch.PublicNetworkAccessType.ENABLED,
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, depends_on=[self.storage_access]
            ),
        )
        self.account_id = account.id
        self.account_name = account.name
        # account_endpoint is a bare host; the runner needs a URL.
        self.endpoint = pulumi.Output.concat("https://", account.account_endpoint)
        self.register_outputs({"endpoint": self.endpoint, "account_name": self.account_name})
