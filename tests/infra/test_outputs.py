"""The stack outputs: exactly the runner's contract, and never a secret."""

from __future__ import annotations

import base64
import binascii
import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest
from infra.stack import export_stack_outputs

from superbatch.contract import OUTPUT_NAMES, StackOutputs
from tests.infra.harness import ProgramRun

SECRET_LOOKING = re.compile(
    r"(?i)(accountkey|sharedaccesssignature|password|secret|token|[?&]sig=|[?&]se=|[?&]sv=)"
)
SECRET_INVOKES = re.compile(r"(?i):list\w*(keys|credentials|sas)|:get\w*(keys|credentials|token)")


def looks_like_key(value: str) -> bool:
    """An Azure account or registry key: a long base64 string."""
    if len(value) < 40 or not re.fullmatch(r"[A-Za-z0-9+/=]+", value):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) >= 32
    except binascii.Error:
        return False


def test_the_exported_names_are_exactly_what_the_runner_reads(default_run: ProgramRun) -> None:
    assert tuple(default_run.outputs) == OUTPUT_NAMES
    assert set(OUTPUT_NAMES) == {field.name for field in fields(StackOutputs)}
    loaded = StackOutputs.from_mapping(default_run.outputs, source="the mocked stack")
    as_read = {name: getattr(loaded, name) for name in OUTPUT_NAMES}
    as_read["pools"] = {name: pool.to_output() for name, pool in loaded.pools.items()}
    assert as_read["data_containers"] == {}  # none unless the stack config names some
    assert as_read == default_run.outputs


def test_no_output_is_secret_or_looks_like_one(default_run: ProgramRun) -> None:
    assert default_run.secret_outputs == set()
    for name, value in default_run.outputs.items():
        if name in ("pools", "data_containers"):  # structured: names, sizes, URLs
            value = json.dumps(value)
        assert isinstance(value, str) and value, name
        assert not SECRET_LOOKING.search(value), (name, value)
        assert not looks_like_key(value), (name, value)


def test_the_program_never_asks_azure_for_keys(default_run: ProgramRun) -> None:
    assert default_run.invokes == ["azure-native:authorization:getClientConfig"]
    assert not any(SECRET_INVOKES.search(token) for token in default_run.invokes)


def test_no_resource_is_given_a_password_or_key(default_run: ProgramRun) -> None:
    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert not re.search(r"(?i)password|accountkey|secret|sas", key), path + key
                walk(item, f"{path}{key}.")
        elif isinstance(value, list):
            for item in value:
                walk(item, path)

    for resource in default_run.resources:
        walk(resource.inputs, f"{resource.type}:")


def test_endpoints_are_urls_the_runner_can_use(default_run: ProgramRun) -> None:
    out = default_run.outputs
    assert re.fullmatch(
        r"https://[a-z0-9]+\.[a-z0-9]+\.batch\.azure\.com", out["batch_account_endpoint"]
    )
    assert out["blob_endpoint"].startswith("https://") and out["blob_endpoint"].endswith("/")
    assert out["inputs_container_url"] == out["blob_endpoint"] + out["inputs_container"]
    assert out["outputs_container_url"] == out["blob_endpoint"] + out["outputs_container"]
    assert (out["inputs_container"], out["outputs_container"]) == ("inputs", "outputs")
    (node,) = [
        r
        for r in default_run.of_type("azure-native:managedidentity:UserAssignedIdentity")
        if r.id == out["node_identity_resource_id"]
    ]
    assert str(node.inputs["resourceName"]).endswith("-nodes-id")
    assert out["node_identity_client_id"] == node.state["clientId"]
    assert out["location"] == "westeurope"


def test_the_runner_side_of_the_contract_does_not_import_pulumi() -> None:
    # The CLI must start fast: only infra/ imports Pulumi.
    code = "import sys, superbatch.contract; sys.exit('pulumi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_outputs_that_differ_from_the_contract_are_refused_before_any_export() -> None:
    renamed = {("pool" if name == "pool_id" else name): "x" for name in OUTPUT_NAMES}
    with pytest.raises(AssertionError, match=r"\['pool', 'pool_id'\]"):
        export_stack_outputs(renamed)
