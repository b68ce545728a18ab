"""Each security property of the environment, checked on what the real program declares."""

from __future__ import annotations

import pytest

from infra import roles
from tests.infra.harness import DEPLOYER_OBJECT_ID, SUBSCRIPTION_ID, ProgramRun, run_program

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"


def role_of(assignment_inputs: dict[str, object]) -> str:
    definition = str(assignment_inputs["roleDefinitionId"])
    prefix = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
    assert definition.startswith(prefix), definition
    return definition.removeprefix(prefix)


def grants_to(run: ProgramRun, principal_id: str) -> set[tuple[str, str]]:
    """(role, scope resource id) pairs given to ``principal_id``."""
    return {
        (role_of(r.inputs), str(r.inputs["scope"]))
        for r in run.of_type(ROLE_ASSIGNMENT)
        if r.inputs["principalId"] == principal_id
    }


def identity_named(run: ProgramRun, suffix: str) -> dict[str, object]:
    found = [r for r in run.of_type(IDENTITY) if str(r.inputs["resourceName"]).endswith(suffix)]
    assert len(found) == 1
    return found[0].state


def container_id(run: ProgramRun, name: str) -> str:
    return next(
        r.id
        for r in run.of_type("azure-native:storage:BlobContainer")
        if r.inputs["containerName"] == name
    )


def test_storage_allows_only_entra_id_over_tls(default_run: ProgramRun) -> None:
    account = default_run.one("azure-native:storage:StorageAccount").inputs
    assert account["kind"] == "StorageV2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["defaultToOAuthAuthentication"] is True
    assert account["allowCrossTenantReplication"] is False
    assert account["allowedCopyScope"] == "AAD"


def test_the_two_job_containers_are_private(default_run: ProgramRun) -> None:
    containers = default_run.of_type("azure-native:storage:BlobContainer")
    assert sorted(c.inputs["containerName"] for c in containers) == ["inputs", "outputs"]
    assert all(c.inputs["publicAccess"] == "None" for c in containers)


def test_job_data_expires_after_the_configured_days() -> None:
    run = run_program({"retentionDays": 12})
    policy = run.one("azure-native:storage:ManagementPolicy").inputs["policy"]
    (rule,) = policy["rules"]
    assert rule["enabled"] is True
    assert sorted(rule["definition"]["filters"]["prefixMatch"]) == ["inputs/", "outputs/"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterModificationGreaterThan": 12}


def test_the_registry_has_no_admin_user_or_anonymous_pull(default_run: ProgramRun) -> None:
    registry = default_run.one("azure-native:containerregistry:Registry").inputs
    assert registry["adminUserEnabled"] is False
    assert registry["anonymousPullEnabled"] is False


def test_the_batch_account_takes_entra_id_only(default_run: ProgramRun) -> None:
    account = default_run.one("azure-native:batch:BatchAccount").inputs
    assert account["poolAllocationMode"] == "BatchService"
    assert account["allowedAuthenticationModes"] == ["AAD"]


def test_auto_storage_uses_an_identity_that_has_its_role_before_the_account(
    default_run: ProgramRun,
) -> None:
    run = default_run
    account = run.one("azure-native:batch:BatchAccount")
    storage = run.one("azure-native:storage:StorageAccount")
    assert account.inputs["autoStorage"]["storageAccountId"] == storage.id
    assert account.inputs["autoStorage"]["authenticationMode"] == "BatchAccountManagedIdentity"
    (identity_id,) = account.inputs["identity"]["userAssignedIdentities"]
    assert account.inputs["identity"]["type"] == "UserAssigned"
    principal = str(run.by_id(identity_id).state["principalId"])
    assert grants_to(run, principal) == {(roles.STORAGE_BLOB_DATA_CONTRIBUTOR, storage.id)}
    (grant,) = [r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == principal]
    assert grant.urn in account.dependencies


def test_the_node_identity_has_exactly_three_roles_at_container_scope(
    default_run: ProgramRun,
) -> None:
    run = default_run
    node = identity_named(run, "-nodes-id")
    registry = run.one("azure-native:containerregistry:Registry")
    assert grants_to(run, str(node["principalId"])) == {
        (roles.ACR_PULL, registry.id),
        (roles.STORAGE_BLOB_DATA_READER, container_id(run, "inputs")),
        (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, container_id(run, "outputs")),
    }
    node_grants = [
        r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == node["principalId"]
    ]
    assert all(r.inputs["principalType"] == "ServicePrincipal" for r in node_grants)


def rearm_role(run: ProgramRun) -> str:
    return str(run.one("azure-native:authorization:RoleDefinition").state["name"])


def test_the_deploying_user_gets_exactly_the_runner_roles(default_run: ProgramRun) -> None:
    run = default_run
    batch_account = run.one("azure-native:batch:BatchAccount")
    registry = run.one("azure-native:containerregistry:Registry")
    pool = run.one("azure-native:batch:Pool")
    assert grants_to(run, DEPLOYER_OBJECT_ID) == {
        (roles.BATCH_JOB_SUBMITTER, batch_account.id),
        (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, container_id(run, "inputs")),
        (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, container_id(run, "outputs")),
        (roles.ACR_PUSH, registry.id),
        (roles.ACR_DATA_IMPORTER, registry.id),  # `image import`, nothing wider
        (rearm_role(run), pool.id),  # issue 15: the one new grant, on the pool alone
    }
    runner = [
        r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == DEPLOYER_OBJECT_ID
    ]
    assert {r.inputs["principalType"] for r in runner} == {"User"}


def test_a_configured_ci_principal_replaces_the_deploying_user() -> None:
    ci = "0c0ffee0-1234-4abc-8def-0123456789ab"
    run = run_program({"runnerPrincipalId": ci, "runnerPrincipalType": "ServicePrincipal"})
    assert grants_to(run, DEPLOYER_OBJECT_ID) == set()
    runner = [r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == ci]
    assert len(runner) == 6
    assert {r.inputs["principalType"] for r in runner} == {"ServicePrincipal"}


def test_no_role_is_granted_beyond_the_ten_expected(default_run: ProgramRun) -> None:
    # 3 node roles + 1 for the account's auto-storage + 5 runner roles (the importer role of
    # `image import` included) + the runner's re-arm role on the pool, none wider than a
    # single resource (never a subscription or resource group scope).
    assignments = default_run.of_type(ROLE_ASSIGNMENT)
    assert len(assignments) == 10
    for assignment in assignments:
        assert "/providers/" in str(assignment.inputs["scope"]), assignment.inputs["scope"]


def test_the_pool_pulls_through_the_node_identity_without_passwords(
    default_run: ProgramRun,
) -> None:
    run = default_run
    pool = run.one("azure-native:batch:Pool").inputs
    node_id = str(run.outputs["node_identity_resource_id"])
    assert pool["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [node_id]}
    containers = pool["deploymentConfiguration"]["virtualMachineConfiguration"][
        "containerConfiguration"
    ]
    assert containers["type"] == "DockerCompatible"
    assert containers["containerRegistries"] == [
        {
            "registryServer": run.outputs["registry_login_server"],
            "identityReference": {"resourceId": node_id},
        }
    ]


def test_the_pool_opens_no_inbound_endpoint(default_run: ProgramRun) -> None:
    pool = default_run.one("azure-native:batch:Pool").inputs
    assert pool["targetNodeCommunicationMode"] == "Simplified"
    assert "networkConfiguration" not in pool
    assert "startTask" not in pool and "userAccounts" not in pool


def test_the_pool_waits_for_every_node_role(default_run: ProgramRun) -> None:
    run = default_run
    pool = run.one("azure-native:batch:Pool")
    node = identity_named(run, "-nodes-id")
    node_grants = [
        r.urn
        for r in run.of_type(ROLE_ASSIGNMENT)
        if r.inputs["principalId"] == node["principalId"]
    ]
    assert len(node_grants) == 3
    assert set(node_grants) <= set(pool.dependencies)


def test_pool_changes_batch_cannot_apply_in_place_replace_the_pool(default_run: ProgramRun) -> None:
    pool = default_run.one("azure-native:batch:Pool")
    for prop in (
        "vmSize",
        "deploymentConfiguration",
        "identity",
        "taskSlotsPerNode",
        "networkConfiguration",
    ):
        assert prop in pool.replace_on_changes
    assert "scaleSettings" not in pool.replace_on_changes  # the formula updates in place
    assert pool.delete_before_replace  # the fixed pool id must be free for the new pool


STATEFUL = (
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:StorageAccount",
    "azure-native:storage:BlobContainer",
    "azure-native:containerregistry:Registry",
    "azure-native:batch:BatchAccount",
)


@pytest.mark.parametrize("protect", [True, False])
def test_stateful_resources_are_protected_when_config_asks(protect: bool) -> None:
    run = run_program({"protect": protect})
    for resource in run.resources:
        expected = protect and resource.type in STATEFUL
        assert resource.protect is expected, (resource.type, resource.name)


def test_the_image_prefetch_list_resolves_short_names_against_the_registry() -> None:
    run = run_program(
        {
            "prefetchImages": [
                "wordcount:1",
                "team/tool@sha256:" + "a" * 64,
                "mcr.microsoft.com/azure-cli:2.0",
            ]
        }
    )
    pool = run.one("azure-native:batch:Pool").inputs
    server = run.outputs["registry_login_server"]
    containers = pool["deploymentConfiguration"]["virtualMachineConfiguration"][
        "containerConfiguration"
    ]
    assert containers["containerImageNames"] == [
        f"{server}/wordcount:1",
        f"{server}/team/tool@sha256:" + "a" * 64,
        "mcr.microsoft.com/azure-cli:2.0",
    ]


def test_a_ci_principal_running_pulumi_up_itself_can_name_its_type() -> None:
    run = run_program({"runnerPrincipalType": "ServicePrincipal"})
    runner = [
        r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == DEPLOYER_OBJECT_ID
    ]
    assert len(runner) == 6
    assert {r.inputs["principalType"] for r in runner} == {"ServicePrincipal"}


def test_the_rearm_role_holds_exactly_pool_read_and_write_inside_the_account(
    default_run: ProgramRun,
) -> None:
    definition = default_run.one("azure-native:authorization:RoleDefinition").inputs
    account = default_run.one("azure-native:batch:BatchAccount")
    assert definition["permissions"] == [
        {
            "actions": [
                "Microsoft.Batch/batchAccounts/pools/read",
                "Microsoft.Batch/batchAccounts/pools/write",
            ]
        }
    ]
    assert definition["assignableScopes"] == [account.id]
    assert definition["scope"] == account.id
    assert str(definition["roleName"]).startswith("SuperBatch pool autoscale re-arm (")


def test_the_rearm_grant_is_on_each_pool_and_nowhere_else() -> None:
    run = run_program(
        {"pools": {"default": {}, "big": {"vmSize": "Standard_E8s_v5"}}, "maxNodes": 3}
    )
    role = rearm_role(run)
    rearm = [r for r in run.of_type(ROLE_ASSIGNMENT) if role_of(r.inputs) == role]
    pools = run.of_type("azure-native:batch:Pool")
    assert sorted(str(r.inputs["scope"]) for r in rearm) == sorted(p.id for p in pools)
    assert {r.inputs["principalId"] for r in rearm} == {DEPLOYER_OBJECT_ID}
    assert all("/pools/" in str(r.inputs["scope"]) for r in rearm)
    # `pulumi up` names the grant.
    (said,) = [line for line in run.infos if "SuperBatch pool autoscale re-arm" in line]
    assert "Microsoft.Batch/batchAccounts/pools/write" in said and "default, big" in said
