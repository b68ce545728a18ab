"""Job data storage: a locked-down account with private ``inputs`` and ``outputs`` containers."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

INPUTS_CONTAINER = "inputs"
OUTPUTS_CONTAINER = "outputs"


@dataclass(frozen=True)
class JobStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]
    retention_days: int
    protect: bool
    tags: dict[str, str]


class JobStorage(pulumi.ComponentResource):
    """Storage account (Entra ID only, no keys) with the two job containers."""

    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    inputs_container_id: pulumi.Output[str]
    outputs_container_id: pulumi.Output[str]
    inputs_container_url: pulumi.Output[str]
    outputs_container_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: JobStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:JobStorage", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        account = self._create_account(name, args, stateful)
        self.account_name = account.name
        self.account_id = account.id
        # primary_endpoints.blob ends with "/", e.g. https://sbdev1a2b3c4d.blob.core.windows.net/
        self.blob_endpoint = account.primary_endpoints.apply(lambda endpoints: endpoints.blob)

        inputs = self._create_container(name, INPUTS_CONTAINER, account, args, stateful)
        outputs = self._create_container(name, OUTPUTS_CONTAINER, account, args, stateful)
        self.inputs_container_id = inputs.id
        self.outputs_container_id = outputs.id
        self.inputs_container_url = pulumi.Output.concat(self.blob_endpoint, inputs.name)
        self.outputs_container_url = pulumi.Output.concat(self.blob_endpoint, outputs.name)
        self._create_expiry_rule(name, account, args)

        self.register_outputs(
            {
                "account_name": self.account_name,
                "blob_endpoint": self.blob_endpoint,
                "inputs_container_url": self.inputs_container_url,
                "outputs_container_url": self.outputs_container_url,
            }
        )

    @staticmethod
    def _create_account(
        name: str, args: JobStorageArgs, opts: pulumi.ResourceOptions
    ) -> storage.StorageAccount:
        # Shared keys are off, so nothing can ever hand out an account key or a key-signed SAS:
        # the runner and the nodes authenticate with Entra ID only.
        return storage.StorageAccount(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            location=args.location,
            kind=storage.Kind.STORAGE_V2,
            sku={"name": storage.SkuName.STANDARD_LRS},
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            allowed_copy_scope=storage.AllowedCopyScope.AAD,
            tags=args.tags,
            opts=opts,
        )

    @staticmethod
    def _create_container(
        name: str,
        container: str,
        account: storage.StorageAccount,
        args: JobStorageArgs,
        opts: pulumi.ResourceOptions,
    ) -> storage.BlobContainer:
        return storage.BlobContainer(
            f"{name}-{container}",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            container_name=container,
            public_access=storage.PublicAccess.NONE,
            opts=opts,
        )

    def _create_expiry_rule(
        self, name: str, account: storage.StorageAccount, args: JobStorageArgs
    ) -> storage.ManagementPolicy:
        # Job data is transient: without an expiry, forgotten results would cost forever.
        return storage.ManagementPolicy(
            f"{name}-expiry",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            management_policy_name="default",
            policy={
                "rules": [
                    {
                        "name": "expire-job-data",
                        "type": "Lifecycle",
                        "enabled": True,
                        "definition": {
                            "filters": {
                                "blob_types": ["blockBlob"],
                                "prefix_match": [f"{INPUTS_CONTAINER}/", f"{OUTPUTS_CONTAINER}/"],
                            },
                            "actions": {
                                "base_blob": {
                                    "delete": {
                                        "days_after_modification_greater_than": args.retention_days
                                    }
                                }
                            },
                        },
                    }
                ]
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
