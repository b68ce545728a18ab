"""Data containers (``dataContainers``): az:// inputs readable by exactly whom they must be."""

from __future__ import annotations

import json

import pytest
from infra.settings import InvalidSettingError, parse_settings

from infra import roles
from superbatch.contract import StackOutputs
from tests.infra.harness import DEPLOYER_OBJECT_ID, SUBSCRIPTION_ID, ProgramRun, run_program
from tests.infra.test_security import ROLE_ASSIGNMENT, grants_to, identity_named

OTHER_SUBSCRIPTION = "0c0ffee0-1234-4abc-8def-0123456789ab"
CONTAINERS = ["data-rg/mydata/raw", f"{OTHER_SUBSCRIPTION}/shared-rg/refdata/genomes"]


def scope(subscription: str, group: str, account: str, container: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Storage/"
        f"storageAccounts/{account}/blobServices/default/containers/{container}"
    )


RAW = scope(SUBSCRIPTION_ID, "data-rg", "mydata", "raw")
GENOMES = scope(OTHER_SUBSCRIPTION, "shared-rg", "refdata", "genomes")


def test_nodes_and_runner_get_exactly_blob_reader_on_each_data_container(
    default_run: ProgramRun,
) -> None:
    run = run_program({"dataContainers": json.dumps(CONTAINERS)})
    reader = roles.STORAGE_BLOB_DATA_READER
    node = str(identity_named(run, "-nodes-id")["principalId"])
    for principal in (node, DEPLOYER_OBJECT_ID):
        added = grants_to(run, principal) - grants_to(default_run, principal)
        assert added == {(reader, RAW), (reader, GENOMES)}, principal
        assert grants_to(default_run, principal) <= grants_to(run, principal)
    # one reader grant per container for the nodes and one for the runner, nothing else
    extra = len(run.of_type(ROLE_ASSIGNMENT)) - len(default_run.of_type(ROLE_ASSIGNMENT))
    assert extra == 2 * len(CONTAINERS)


def test_the_runner_learns_the_containers_and_their_urls_from_the_outputs() -> None:
    run = run_program({"dataContainers": json.dumps(CONTAINERS)})
    assert run.outputs["data_containers"] == {
        "mydata/raw": "https://mydata.blob.core.windows.net/raw",
        "refdata/genomes": "https://refdata.blob.core.windows.net/genomes",
    }
    loaded = StackOutputs.from_mapping(run.outputs, source="the mocked stack")
    assert loaded.data_containers == run.outputs["data_containers"]


@pytest.mark.parametrize(
    "value",
    [
        '"data-rg/mydata/raw"',  # not a list
        '["mydata/raw"]',  # no resource group
        '["data-rg/MyData/raw"]',  # account names are lowercase
        '["data-rg/mydata/a--b"]',  # container names: no double hyphen
        '["not-a-guid/data-rg/mydata/raw"]',
        '["data-rg/mydata/raw", "other-rg/mydata/raw"]',  # the same container twice
    ],
)
def test_a_bad_data_container_is_one_line_naming_the_key(value: str) -> None:
    with pytest.raises(InvalidSettingError, match=r"^invalid stack config: superbatch:dataCont"):
        parse_settings({"dataContainers": value})
