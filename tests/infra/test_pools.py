"""Several pools per stack (the ``pools`` config map), each its own pool, formula and output."""

from __future__ import annotations

from typing import Any

import pytest
from infra.pools import DEFAULT_POOL
from infra.settings import InvalidSettingError, parse_settings

from superbatch.contract import StackOutputs
from tests.infra.harness import DEPLOYER_OBJECT_ID, ProgramRun, declared_resources, run_program

POOL = "azure-native:batch:Pool"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

# The example, exactly.
THREE_POOLS = {
    "default": {"vmSize": "Standard_D2s_v5", "maxNodes": 2, "spot": False},
    "big": {"vmSize": "Standard_E8s_v5", "maxNodes": 4, "spot": True, "taskSlotsPerNode": 2},
    "gpu": {"vmSize": "Standard_NC4as_T4_v3", "maxNodes": 1, "gpu": True},
}


@pytest.fixture(scope="module")
def three() -> ProgramRun:
    return run_program({"pools": THREE_POOLS})


def pools_by_id(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {str(r.inputs["poolName"]): r.inputs for r in run.of_type(POOL)}


def test_three_pools_each_with_its_own_vm_size_and_formula(three: ProgramRun) -> None:
    pools = pools_by_id(three)
    assert set(pools) == {"sb-dev-pool", "sb-dev-pool-big", "sb-dev-pool-gpu"}
    assert {p: pools[p]["vmSize"] for p in pools} == {
        "sb-dev-pool": "Standard_D2s_v5",
        "sb-dev-pool-big": "Standard_E8s_v5",
        "sb-dev-pool-gpu": "Standard_NC4as_T4_v3",
    }
    assert pools["sb-dev-pool-big"]["taskSlotsPerNode"] == 2
    formulas = {p: pools[p]["scaleSettings"]["autoScale"]["formula"] for p in pools}
    assert "maxNodes = 2;" in formulas["sb-dev-pool"]
    assert "maxNodes = 4;" in formulas["sb-dev-pool-big"]
    assert "$TargetDedicatedNodes = 0;" in formulas["sb-dev-pool-big"]  # Spot
    assert "maxNodes = 1;" in formulas["sb-dev-pool-gpu"]
    assert len(set(formulas.values())) == 3


def test_every_pool_pulls_as_the_node_identity_from_the_stack_registry(three: ProgramRun) -> None:
    node_id = three.outputs["node_identity_resource_id"]
    server = three.outputs["registry_login_server"]
    for pool in three.of_type(POOL):
        inputs = pool.inputs
        assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [node_id]}
        containers = inputs["deploymentConfiguration"]["virtualMachineConfiguration"][
            "containerConfiguration"
        ]
        assert containers["containerRegistries"] == [
            {"registryServer": server, "identityReference": {"resourceId": node_id}}
        ]


def test_each_pool_is_replaced_on_its_own(three: ProgramRun) -> None:
    pools = three.of_type(POOL)
    assert len(pools) == 3
    components = {r.urn: r for r in three.resources if r.type == "superbatch:infra:ContainerPool"}
    assert {components[p.parent].name for p in pools} == {"pool", "pool-big", "pool-gpu"}
    for pool in pools:
        assert "vmSize" in pool.replace_on_changes and "taskSlotsPerNode" in pool.replace_on_changes
        assert "scaleSettings" not in pool.replace_on_changes
        assert pool.delete_before_replace
        # No pool depends on another: replacing one leaves the others alone.
        assert not set(pool.dependencies) & {p.urn for p in pools}


def test_the_default_pool_keeps_the_single_pool_stack_urn_and_id(
    three: ProgramRun, default_run: ProgramRun
) -> None:
    (single,) = default_run.of_type(POOL)
    same = [p for p in three.of_type(POOL) if p.urn == single.urn]
    assert len(same) == 1 and same[0].inputs["poolName"] == single.inputs["poolName"]
    assert three.outputs["pool_id"] == default_run.outputs["pool_id"] == "sb-dev-pool"


def test_more_pools_add_only_the_runners_grant_on_each(
    three: ProgramRun, default_run: ProgramRun
) -> None:
    def grants(run: ProgramRun) -> set[tuple[str, str]]:
        return {
            (str(r.inputs["principalId"]), str(r.inputs["scope"]))
            for r in run.of_type(ROLE_ASSIGNMENT)
        }

    added = grants(three) - grants(default_run)
    new_pools = {p.id for p in three.of_type(POOL)} - {p.id for p in default_run.of_type(POOL)}
    assert {scope for _, scope in added} == new_pools
    assert {principal for principal, _ in added} == {DEPLOYER_OBJECT_ID}


def test_the_pools_output_says_what_each_pool_offers(three: ProgramRun) -> None:
    outputs = StackOutputs.from_mapping(three.outputs, source="mocked stack")
    assert list(outputs.pools) == ["default", "big", "gpu"]
    big, gpu = outputs.pool("big"), outputs.pool("gpu")
    assert (big.id, big.vm_size, big.cores, big.memory_gb, big.gpus, big.slots) == (
        "sb-dev-pool-big",
        "Standard_E8s_v5",
        8,
        64.0,
        0,
        2,
    )
    assert (big.spot, big.max_nodes, big.gpu) == ("spot", 4, False)
    assert (gpu.cores, gpu.memory_gb, gpu.gpus, gpu.gpu) == (4, 28.0, 1, True)
    assert outputs.pool(None) == outputs.pool("default")
    assert outputs.pool("default").spot == "dedicated"


def test_without_pools_the_top_level_keys_are_the_pool_default() -> None:
    settings = parse_settings({"vmSize": "Standard_E4s_v5", "maxNodes": "3", "spot": "true"})
    (pool,) = settings.pools
    assert (pool.name, pool.vm_size, pool.max_nodes, pool.spot) == (
        "default",
        "Standard_E4s_v5",
        3,
        "spot",
    )
    assert pool.size is not None and (pool.size.cores, pool.size.memory_gb) == (4, 32.0)


def test_top_level_keys_are_the_defaults_of_every_pools_entry() -> None:
    settings = parse_settings(
        {
            "osDiskSizeGb": "256",
            "autoscaleIntervalMinutes": "10",
            "pools": '{"default": {}, "big": {"vmSize": "Standard_E8s_v5", "osDiskSizeGb": 512}}',
        }
    )
    default, big = settings.pools
    assert default.name == DEFAULT_POOL and default.vm_size == "Standard_D2s_v5"
    assert (default.os_disk_size_gb, big.os_disk_size_gb) == (256, 512)
    assert default.autoscale_interval_minutes == big.autoscale_interval_minutes == 10


def test_spot_fallback_and_strings_from_pulumi_config_set_path_are_read() -> None:
    settings = parse_settings(
        {"pools": '{"default": {"spot": "fallback", "maxNodes": "3", "gpu": "false"}}'}
    )
    (pool,) = settings.pools
    assert (pool.spot, pool.max_nodes, pool.gpu) == ("fallback", 3, False)


BAD_POOLS = [
    ({"default": {"maxNodes": 0}}, "pools.default.maxNodes"),
    ({"default": {}, "big": {"maxNodes": "lots"}}, "pools.big.maxNodes"),
    ({"default": {}, "big": {"spot": "sometimes"}}, "pools.big.spot"),
    ({"default": {}, "big": {"vmSize": "Standard E8"}}, "pools.big.vmSize"),
    ({"default": {}, "big": {"taskSlotsPerNode": 0}}, "pools.big.taskSlotsPerNode"),
    (
        {"default": {"vmSize": "Standard_D2s_v5", "taskSlotsPerNode": 9}},
        "pools.default.taskSlotsPerNode",
    ),
    ({"default": {}, "big": {"osDiskSizeGb": 10}}, "pools.big.osDiskSizeGb"),
    ({"default": {}, "big": {"imageSku": ""}}, "pools.big.imageSku"),
    ({"default": {}, "big": {"nodeAgentSku": " "}}, "pools.big.nodeAgentSku"),
    ({"default": {}, "big": {"prefetchImages": "wordcount:1"}}, "pools.big.prefetchImages"),
    ({"default": {}, "big": {"autoscaleIntervalMinutes": 1}}, "pools.big.autoscaleIntervalMinutes"),
    ({"default": {}, "big": {"warmMinutes": -1}}, "pools.big.warmMinutes"),
    ({"default": {}, "big": {"gpu": "yes"}}, "pools.big.gpu"),
    ({"default": {}, "big": {"gpu": True}}, "pools.big.gpu"),  # Standard_D2s_v5 has no GPU
    ({"default": {}, "big": {"vmsize": "Standard_E8s_v5"}}, "pools.big.vmsize"),
    ({"default": {}, "Big": {}}, "pools.Big"),
    ({"default": {}, "big": "Standard_E8s_v5"}, "pools.big"),
    ({"big": {}}, "pools must include a pool named default"),
]


@pytest.mark.parametrize(("pools", "named"), BAD_POOLS)
def test_a_bad_pools_value_is_one_line_naming_its_key(pools: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidSettingError) as raised:
        run_program({"pools": pools})
    message = str(raised.value)
    assert f"superbatch:{named}" in message
    assert "\n" not in message
    assert declared_resources() == []


@pytest.mark.parametrize("value", ["[]", "{}", "big", '{"default": 1'])
def test_pools_that_is_not_a_map_is_refused(value: str) -> None:
    with pytest.raises(InvalidSettingError, match=r"superbatch:pools must be a map"):
        parse_settings({"pools": value})


def test_every_bad_pool_key_is_named_at_once() -> None:
    with pytest.raises(InvalidSettingError) as raised:
        parse_settings({"pools": '{"default": {"maxNodes": 0}, "big": {"spot": "x"}}'})
    message = str(raised.value)
    assert "superbatch:pools.default.maxNodes" in message
    assert "superbatch:pools.big.spot" in message


def test_a_gpu_pool_on_an_image_without_nvidia_tools_is_warned_about() -> None:
    pools = {
        "default": {},
        "gpu": {"vmSize": "Standard_NC4as_T4_v3", "gpu": True, "imagePublisher": "canonical"},
    }
    run = run_program({"pools": pools})
    assert any("pool gpu: gpu=true with the image canonical/" in w for w in run.warnings)
    assert not any("gpu=true" in w for w in run_program({"pools": THREE_POOLS}).warnings)
