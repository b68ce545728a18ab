"""The stack's private container registry: pulls and pushes with Entra ID only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry


@dataclass(frozen=True)
class ImageRegistryArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    registry_name: pulumi.Input[str]
    protect: bool
    tags: dict[str, str]


class ImageRegistry(pulumi.ComponentResource):
    """Azure Container Registry without an admin user or anonymous pull."""

    registry_id: pulumi.Output[str]
    login_server: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:ImageRegistry", name, None, opts)
        # No admin user: there is no registry password to leak. Nodes pull with AcrPull on
        # their managed identity, the runner pushes with AcrPush on its own identity.
        registry = containerregistry.Registry(
            f"{name}-registry",
            resource_group_name=args.resource_group_name,
            registry_name=args.registry_name,
            location=args.location,
            sku={"name": containerregistry.SkuName.BASIC},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.registry_id = registry.id
        self.login_server = registry.login_server
        self.register_outputs({"login_server": self.login_server})
