"""Runs the real Pulumi program (``infra/__main__.py``) under Pulumi's own mocks.

``AzureMocks`` plays Azure: it echoes inputs and fills in what Azure computes (ids, endpoints,
principal ids), in the camelCase shape the provider returns. ``RecordingMonitor`` is Pulumi's
``MockMonitor`` that also keeps each registration's options (parent, protect, depends_on,
replace_on_changes), which the mocks API does not show. ``run_program`` executes the program
folder exactly as Pulumi's Python host does (``runpy.run_path``) and returns what it declared.
"""

from __future__ import annotations

import json
import logging
import runpy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "superbatch"
STACK = "dev"
SUBSCRIPTION_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
DEPLOYER_OBJECT_ID = "99999999-8888-7777-6666-555555555555"
INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"

_PROVIDERS = {
    "azure-native:resources:ResourceGroup": None,
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName"),
    "azure-native:containerregistry:Registry": (
        "Microsoft.ContainerRegistry/registries",
        "registryName",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "resourceName",
    ),
    "azure-native:batch:BatchAccount": ("Microsoft.Batch/batchAccounts", "accountName"),
}


@dataclass(frozen=True)
class Registration:
    """One resource the program declared, with its inputs and options."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    state: dict[str, Any]
    id: str
    protect: bool
    dependencies: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    delete_before_replace: bool


class AzureMocks(pulumi.runtime.Mocks):
    """Fakes what Azure computes; records every invoke token."""

    def __init__(self) -> None:
        self.invokes: list[str] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.invokes.append(args.token)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }
        raise AssertionError(f"the program invoked an unexpected function: {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        state = dict(inputs)
        rg = inputs.get("resourceGroupName", "")
        group_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}"
        if args.typ == "azure-native:resources:ResourceGroup":
            state["name"] = inputs["resourceGroupName"]
            return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{state['name']}", state
        if args.typ in _PROVIDERS:
            provider, name_key = _PROVIDERS[args.typ]  # type: ignore[misc]
            state["name"] = inputs[name_key]
            resource_id = f"{group_id}/providers/{provider}/{state['name']}"
        elif args.typ == "azure-native:storage:BlobContainer":
            state["name"] = inputs["containerName"]
            resource_id = (
                f"{group_id}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"
                f"/blobServices/default/containers/{state['name']}"
            )
        elif args.typ == "azure-native:batch:Pool":
            state["name"] = inputs["poolName"]
            resource_id = (
                f"{group_id}/providers/Microsoft.Batch/batchAccounts/{inputs['accountName']}"
                f"/pools/{state['name']}"
            )
        else:
            state["name"] = args.name
            resource_id = f"{inputs.get('scope', group_id)}/providers/{args.typ}/{args.name}"

        if args.typ == "azure-native:storage:StorageAccount":
            state["primaryEndpoints"] = {"blob": f"https://{state['name']}.blob.core.windows.net/"}
        elif args.typ == "azure-native:containerregistry:Registry":
            state["loginServer"] = f"{state['name']}.azurecr.io"
        elif args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id + "#principal"))
            state["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id + "#client"))
        elif args.typ == "azure-native:batch:BatchAccount":
            state["accountEndpoint"] = f"{state['name']}.{inputs['location']}.batch.azure.com"
        # The identity input is a list of ids; Azure answers with a map of id -> details.
        identity = inputs.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            state["identity"] = {
                **identity,
                "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]},
            }
        return resource_id, state


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, also recording each registration's resource options."""

    def __init__(self, mocks: AzureMocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources[response.urn]
            self.registrations[response.urn] = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                inputs=rpc.deserialize_properties(request.object),
                state=registered.state,
                id=registered.id,
                protect=request.protect,
                dependencies=tuple(request.dependencies),
                replace_on_changes=tuple(request.replaceOnChanges),
                delete_before_replace=request.deleteBeforeReplace,
            )
        return response


@dataclass
class ProgramRun:
    """What one run of the program declared and exported."""

    resources: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[str]
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)  # what `pulumi up` prints as info

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def by_id(self, resource_id: str) -> Registration:
        return next(r for r in self.resources if r.id == resource_id)


class _WarningRecorder(logging.Handler):
    """Keeps the warnings the program logs (pulumi.log.warn reaches the mock engine's logger)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []
        self.infos: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
        else:
            self.infos.append(record.getMessage())


_MOCKS = AzureMocks()
_MONITOR = RecordingMonitor(_MOCKS)
_WARNINGS = _WarningRecorder()
_LOGGER = logging.getLogger("tests.infra.pulumi-engine")
_LOGGER.addHandler(_WARNINGS)
_LOGGER.propagate = False
_LOGGER.setLevel(logging.INFO)


def install_mocks() -> None:
    """Point the Pulumi runtime at the mocks; Pulumi keeps them process-wide, so once."""
    pulumi.runtime.set_mocks(
        _MOCKS, project=PROJECT, stack=STACK, preview=False, monitor=_MONITOR, logger=_LOGGER
    )


def declared_resources() -> list[Registration]:
    """Resources the latest run declared, even if it then failed."""
    return list(_MONITOR.registrations.values())


def config_string(value: Any) -> str:
    """A value as Pulumi hands config to programs: strings, with JSON for lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    if isinstance(value, dict):  # structured config (pools) reaches programs as JSON
        return json.dumps(value)
    return str(value)


def run_program(config: dict[str, Any] | None = None, *, program: Path = INFRA_DIR) -> ProgramRun:
    """Run ``program`` (``infra/``) with ``config`` (keys without namespace) and collect it."""
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": config_string(value) for key, value in (config or {}).items()}, []
    )
    _MONITOR.registrations.clear()
    _MONITOR.resources.clear()
    _MOCKS.invokes.clear()
    _WARNINGS.messages.clear()
    _WARNINGS.infos.clear()
    stack = get_root_resource()
    assert stack is not None, "install_mocks() must run first (tests/infra/conftest.py)"
    stack.outputs.clear()  # type: ignore[attr-defined]
    SETTINGS.rpc_manager.clear()

    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")  # as Pulumi's Python host does

    _sync_await(run_pulumi_func(run))

    exported: dict[str, Any] = dict(stack.outputs)  # type: ignore[attr-defined]
    outputs = {}
    secret_outputs = set()
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        outputs[name] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret_outputs.add(name)
    return ProgramRun(
        resources=list(_MONITOR.registrations.values()),
        outputs=outputs,
        secret_outputs=secret_outputs,
        invokes=list(_MOCKS.invokes),
        warnings=list(_WARNINGS.messages),
        infos=list(_WARNINGS.infos),
    )
