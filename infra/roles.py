"""Built-in Azure roles and who gets them (:class:`Grantee`).

GUIDs are Azure's built-in role definition ids (the same in every subscription).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
# Least privilege for `superbatch image import` (ACR's importImage ARM operation): exactly
# Microsoft.ContainerRegistry/registries/importImage/action, registries/pull/read and
# registries/read (learn.microsoft.com, "Azure Container Registry built-in roles directory").
ACR_DATA_IMPORTER = "577a9874-89fd-4f24-9dbd-b5034d0ad23a"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
# Its actions include Microsoft.Batch/batchAccounts/pools/read (Microsoft Learn, "Role-based
# access control for Azure Batch service"): the runner reads the pool while tasks wait for
# nodes with this role alone, no wider one.
BATCH_JOB_SUBMITTER = "48e5e92e-a480-4e71-aa9c-2778f4c13781"

ROLE_NAMES = {
    ACR_PULL: "AcrPull",
    ACR_PUSH: "AcrPush",
    ACR_DATA_IMPORTER: "Container Registry Data Importer and Data Reader",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    BATCH_JOB_SUBMITTER: "Azure Batch Job Submitter",
}


def role_definition_id(
    subscription_id: pulumi.Input[str], role: pulumi.Input[str]
) -> pulumi.Output[str]:
    """Subscription-scoped id of the role ``role`` (a GUID above, or a custom role's)."""
    return pulumi.Output.concat(
        "/subscriptions/",
        subscription_id,
        "/providers/Microsoft.Authorization/roleDefinitions/",
        role,
    )


@dataclass(frozen=True)
class Grantee:
    """One principal that a component gives roles to.

    Its assignments are children of ``parent``, named ``f"{prefix}-{suffix}"``.
    """

    prefix: str
    principal_id: pulumi.Input[str]
    principal_type: authorization.PrincipalType
    subscription_id: pulumi.Input[str]
    parent: pulumi.Resource

    @classmethod
    def managed_identity(
        cls,
        prefix: str,
        identity: managedidentity.UserAssignedIdentity,
        *,
        subscription_id: pulumi.Input[str],
        parent: pulumi.Resource,
    ) -> Grantee:
        # "ServicePrincipal": a fresh managed identity may not have replicated yet, and naming
        # its type spares ARM the lookup that would fail with PrincipalNotFound.
        return cls(
            prefix,
            identity.principal_id,
            authorization.PrincipalType.SERVICE_PRINCIPAL,
            subscription_id,
            parent,
        )

    def grant(
        self, suffix: str, role: str, scope: pulumi.Input[str]
    ) -> authorization.RoleAssignment:
        """Give the principal the built-in ``role`` on exactly ``scope``.

        The assignment's own name (a GUID) is left to the provider, which keeps it in state.
        """
        return authorization.RoleAssignment(
            f"{self.prefix}-{suffix}",
            principal_id=self.principal_id,
            principal_type=self.principal_type,
            role_definition_id=role_definition_id(self.subscription_id, role),
            scope=scope,
            description=f"SuperBatch: {ROLE_NAMES[role]}",
            opts=pulumi.ResourceOptions(parent=self.parent),
        )
