"""The runner's one permission on the pools: re-arming a pool's autoscale (issue 15).

To ask for nodes as soon as a job's tasks are visible to the formula, the runner calls Batch's
"Pool - Enable Auto Scale" with the pool's own formula and interval, which it first reads.
That needs exactly two Batch actions, listed for custom roles in MicrosoftDocs/azure-docs
``articles/batch/batch-aad-auth.md`` ("Assign a custom role"):

- ``Microsoft.Batch/batchAccounts/pools/read`` (get the pool: formula, interval, targets);
- ``Microsoft.Batch/batchAccounts/pools/write`` (update a pool; enable autoscale is one).

No built-in role is that narrow (Azure Batch Data Contributor may also delete pools and
manage jobs, certificates and schedules), so this is a custom role, assignable only inside
the stack's Batch account, and assigned to the runner principal on each pool alone: nothing
account-wide. Whether Batch honours a pool-scoped assignment for the data-plane call is
*unverified*; when it does not, the re-arm is refused and the runner falls back to the
pool's own schedule (the job still runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from infra import roles

REARM_ACTIONS = (
    "Microsoft.Batch/batchAccounts/pools/read",
    "Microsoft.Batch/batchAccounts/pools/write",
)
REARM_ROLE = "SuperBatch pool autoscale re-arm"


@dataclass(frozen=True)
class RunnerPoolAccessArgs:
    principal_id: pulumi.Input[str]
    principal_type: authorization.PrincipalType
    subscription_id: pulumi.Input[str]
    batch_account_id: pulumi.Input[str]
    batch_account_name: pulumi.Input[str]
    pools: Sequence[tuple[str, pulumi.Input[str]]]  # (pool name, pool resource id)


class RunnerPoolAccess(pulumi.ComponentResource):
    """A custom role with :data:`REARM_ACTIONS`, given to the runner on every pool."""

    role_assignments: list[pulumi.Resource]

    def __init__(
        self, name: str, args: RunnerPoolAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("superbatch:infra:RunnerPoolAccess", name, None, opts)
        definition = authorization.RoleDefinition(
            f"{name}-rearm-role",
            # Role names are unique in the tenant: the account name carries the stack's hash.
            role_name=pulumi.Output.concat(REARM_ROLE, " (", args.batch_account_name, ")"),
            description=(
                "SuperBatch: read a pool and re-enable its autoscale with its own formula, so "
                "nodes are requested as soon as a job's tasks are visible to the formula"
            ),
            permissions=[{"actions": list(REARM_ACTIONS)}],
            scope=args.batch_account_id,
            assignable_scopes=[args.batch_account_id],
            opts=pulumi.ResourceOptions(parent=self),
        )
        definition_id = roles.role_definition_id(args.subscription_id, definition.name)
        self.role_assignments = [
            authorization.RoleAssignment(
                f"{name}-rearm-{pool}",
                principal_id=args.principal_id,
                principal_type=args.principal_type,
                role_definition_id=definition_id,
                scope=pool_resource_id,
                description=f"SuperBatch: {REARM_ROLE} on pool {pool}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for pool, pool_resource_id in args.pools
        ]
        pulumi.log.info(
            f"the runner principal gets the custom role {REARM_ROLE!r} "
            f"({', '.join(REARM_ACTIONS)}) on each pool only ("
            + ", ".join(pool for pool, _ in args.pools)
            + "): it re-arms a pool's autoscale when a job's tasks are waiting for nodes",
            resource=self,
        )
        self.register_outputs({})
