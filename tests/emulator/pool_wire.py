"""Pools and nodes as ``GET /pools/{id}`` and ``GET /pools/{id}/nodes`` show them (field names
and casing from the SDK's recordings of the real service and its models)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.pools import ComputeNode, Pool


def iso_duration(seconds: float) -> str:
    """Batch's form of a TimeSpan on the wire: ``PT6M``, ``PT1H30M``, ``PT45S``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def node_state(pool: Pool, node: ComputeNode) -> str:
    if node.state == "idle" and pool.account.tasks_on_node(node.id):
        return "running"
    return node.state


def node_wire(pool: Pool, node: ComputeNode) -> dict[str, Any]:
    tasks = pool.account.tasks_on_node(node.id)
    wire: dict[str, Any] = {
        "id": node.id,
        "url": f"{pool.url}/nodes/{node.id}",
        "state": node_state(pool, node),
        "schedulingState": "enabled",
        "stateTransitionTime": pool.clock.stamp(node.since),
        "allocationTime": pool.clock.stamp(node.allocated),
        "ipAddress": "10.0.0.4",
        "affinityId": f"TVM:{node.id}",
        "vmSize": pool.spec.vm_size,
        "totalTasksRun": node.tasks_run,
        "runningTasksCount": len(tasks),
        "runningTaskSlotsCount": sum(t.slots for t in tasks),
        "totalTasksSucceeded": node.tasks_succeeded,
        "isDedicated": node.dedicated,
        "virtualMachineInfo": {"imageReference": _IMAGE},
    }
    if node.state != "starting":
        wire["lastBootTime"] = pool.clock.stamp(node.ready_at)
    if node.errors:
        wire["errors"] = [dict(e) for e in node.errors]
    return wire


def pool_wire(pool: Pool) -> dict[str, Any]:
    current_d = sum(1 for n in pool.nodes if n.dedicated and n.state != "leavingpool")
    current_lp = sum(1 for n in pool.nodes if not n.dedicated and n.state != "leavingpool")
    created = pool.clock.stamp(pool.created)
    wire: dict[str, Any] = {
        "id": pool.id,
        "url": pool.url,
        "eTag": pool.etag,
        "lastModified": pool.clock.stamp(pool.last_modified),
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "allocationState": pool.allocation_state,
        "allocationStateTransitionTime": pool.clock.stamp(pool.allocation_since),
        "vmSize": pool.spec.vm_size,
        "resizeTimeout": "PT15M",
        "currentDedicatedNodes": current_d,
        "targetDedicatedNodes": pool.target[0],
        "currentLowPriorityNodes": current_lp,
        "targetLowPriorityNodes": pool.target[1],
        "enableAutoScale": pool.auto_scale,
        "enableInterNodeCommunication": False,
        "taskSlotsPerNode": pool.spec.slots,
        "taskSchedulingPolicy": {"nodeFillType": "Pack", "jobDefaultOrder": "none"},
        "virtualMachineConfiguration": _vm_configuration(pool.spec.container),
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": [
                {"resourceId": rid, "clientId": f"client-{i}", "principalId": f"principal-{i}"}
                for i, rid in enumerate(pool.identity_resource_ids)
            ],
        },
    }
    if pool.auto_scale:
        wire["autoScaleFormula"] = pool.formula
        wire["autoScaleEvaluationInterval"] = iso_duration(pool.interval)
        if pool.auto_scale_run is not None:
            wire["autoScaleRun"] = dict(pool.auto_scale_run)
    if pool.resize_errors:
        wire["resizeErrors"] = pool.resize_errors.wire()
    return wire


_IMAGE = {
    "publisher": "microsoft-dsvm",
    "offer": "ubuntu-hpc",
    "sku": "2204",
    "version": "latest",
}


def _vm_configuration(container: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "imageReference": _IMAGE,
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    }
    if container:
        config["containerConfiguration"] = {"type": "dockerCompatible"}
    return config
