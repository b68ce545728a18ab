"""The program's shape: components own their resources, runs are repeatable, config flows."""

from __future__ import annotations

from tests.infra.harness import ProgramRun, run_program


def test_every_resource_but_the_group_belongs_to_one_component(default_run: ProgramRun) -> None:
    components = {r.urn: r for r in default_run.resources if not r.custom}
    assert {c.type for c in components.values()} == {
        "superbatch:infra:JobStorage",
        "superbatch:infra:ImageRegistry",
        "superbatch:infra:NodeIdentity",
        "superbatch:infra:BatchEnvironmentAccount",
        "superbatch:infra:RunnerAccess",
        "superbatch:infra:RunnerPoolAccess",
        "superbatch:infra:ContainerPool",
    }
    for resource in default_run.resources:
        if not resource.custom or resource.type == "azure-native:resources:ResourceGroup":
            continue
        parent = components[resource.parent]
        assert resource.name.startswith(parent.name + "-"), (resource.name, parent.name)


def test_logical_names_are_unique(default_run: ProgramRun) -> None:
    names = [r.name for r in default_run.resources]
    assert len(names) == len(set(names))


def test_a_second_run_declares_exactly_the_same_resources(default_run: ProgramRun) -> None:
    again = run_program({})
    assert {r.urn: r.inputs for r in again.resources} == {
        r.urn: r.inputs for r in default_run.resources
    }
    assert again.outputs == default_run.outputs


def test_the_configured_region_is_used_everywhere() -> None:
    run = run_program({"location": "eastus2"})
    located = [r for r in run.resources if "location" in r.inputs]
    assert len(located) >= 6
    assert {r.inputs["location"] for r in located} == {"eastus2"}
    assert run.outputs["location"] == "eastus2"
    assert ".eastus2.batch.azure.com" in run.outputs["batch_account_endpoint"]


def test_the_pool_uses_the_configured_vm_image_and_disk() -> None:
    run = run_program(
        {
            "vmSize": "Standard_E4s_v5",
            "imageSku": "2404",
            "nodeAgentSku": "batch.node.ubuntu 24.04",
            "osDiskSizeGb": 512,
            "taskSlotsPerNode": 3,
        }
    )
    pool = run.one("azure-native:batch:Pool").inputs
    vm = pool["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert pool["vmSize"] == "Standard_E4s_v5"
    assert pool["taskSlotsPerNode"] == 3
    assert vm["imageReference"] == {
        "publisher": "microsoft-dsvm",
        "offer": "ubuntu-hpc",
        "sku": "2404",
        "version": "latest",
    }
    assert vm["nodeAgentSkuId"] == "batch.node.ubuntu 24.04"
    assert vm["osDisk"] == {"diskSizeGB": 512}


def test_a_new_prefix_renames_the_physical_resources() -> None:
    run = run_program({"prefix": "acme"})
    assert run.outputs["resource_group"] == "acme-dev-rg"
    assert run.outputs["storage_account_name"].startswith("acmedev")
    assert run.outputs["pool_id"] == "acme-dev-pool"
