"""The stack-outputs contract between ``infra/`` and the runner.

``infra/__main__.py`` exports exactly the names in :data:`OUTPUT_NAMES` and the runner
reads exactly these (``superbatch run --stack dev`` or ``--outputs FILE``). A test asserts
that both sides agree. No key, SAS token or password is ever one of them: nodes and the
runner authenticate with Entra ID (managed identity, ``az login``).

This module must stay import-light: the Pulumi program imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Exported name -> what it holds. The order is the order ``pulumi stack output`` shows.
OUTPUT_DESCRIPTIONS: dict[str, str] = {
    "batch_account_endpoint": "Batch account URL with scheme, e.g. https://sbdev.westeurope.batch.azure.com",
    "batch_account_name": "Batch account name",
    "pool_id": "id of the pool `default` (the only pool of stacks from before `pools`)",
    "pools": "the stack's pools: name -> {id, vmSize, cores, memoryGb, gpus, slots, ..., "
    "pricePerNodeHour}",
    "storage_account_name": "storage account name",
    "blob_endpoint": "blob service URL with scheme and trailing slash",
    "inputs_container": "name of the container that holds staged inputs",
    "inputs_container_url": "URL of the inputs container (no SAS)",
    "outputs_container": "name of the container that receives task outputs and logs",
    "outputs_container_url": "URL of the outputs container (no SAS)",
    "registry_login_server": "container registry host, e.g. sbdevacr1a2b3c.azurecr.io",
    "node_identity_resource_id": "resource id of the pool's user-assigned identity",
    "node_identity_client_id": "client id of the pool's user-assigned identity",
    "resource_group": "resource group name",
    "location": "Azure region",
    "data_containers": "containers the nodes may read az:// inputs from: "
    '{"<account>/<container>": "<container URL>"} (stack config dataContainers)',
}

OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_DESCRIPTIONS)
# Outputs a stack from an older infra/ may lack; the runner fills them in (see from_mapping).
OPTIONAL_OUTPUTS = frozenset({"pools", "data_containers"})
DEFAULT_POOL = "default"


@dataclass(frozen=True)
class PoolInfo:
    """One pool of the stack, as the ``pools`` output describes it.

    ``cores``, ``memory_gb`` and ``gpus`` are ``None`` when unknown (a VM size infra/ has no
    figures for, or a stack from before ``pools``).
    """

    name: str
    id: str
    vm_size: str | None
    cores: int | None
    memory_gb: float | None
    gpus: int | None
    slots: int | None  # task slots per node
    max_nodes: int | None
    spot: str | None  # dedicated | spot | fallback
    gpu: bool = False  # tasks get the node's GPUs (container run option --gpus all)
    # What one node costs per hour (stack config pricePerNodeHour; None: not given, or a
    # stack from before it). Only for estimates and reports: never looked up.
    price_per_node_hour: float | None = None

    def to_output(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vmSize": self.vm_size,
            "cores": self.cores,
            "memoryGb": self.memory_gb,
            "gpus": self.gpus,
            "slots": self.slots,
            "maxNodes": self.max_nodes,
            "spot": self.spot,
            "gpu": self.gpu,
            "pricePerNodeHour": self.price_per_node_hour,
        }

    @classmethod
    def from_output(cls, name: str, value: Any, *, source: str) -> PoolInfo:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
            raise ValueError(f"{source}: stack output pools.{name} has no pool id")

        def number(key: str, kind: type) -> Any:
            item = value.get(key)
            if item is None:
                return None
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ValueError(f"{source}: stack output pools.{name}.{key} is not a number")
            return kind(item)

        text = {key: value.get(key) for key in ("vmSize", "spot")}
        return cls(
            name=name,
            id=value["id"],
            vm_size=str(text["vmSize"]) if text["vmSize"] else None,
            cores=number("cores", int),
            memory_gb=number("memoryGb", float),
            gpus=number("gpus", int),
            slots=number("slots", int),
            max_nodes=number("maxNodes", int),
            spot=str(text["spot"]) if text["spot"] else None,
            gpu=value.get("gpu") is True,
            price_per_node_hour=_price(number("pricePerNodeHour", float), name, source=source),
        )


@dataclass(frozen=True)
class StackOutputs:
    """What the runner needs to submit against one stack (one environment)."""

    batch_account_endpoint: str
    batch_account_name: str
    pool_id: str
    pools: dict[str, PoolInfo]
    storage_account_name: str
    blob_endpoint: str
    inputs_container: str
    inputs_container_url: str
    outputs_container: str
    outputs_container_url: str
    registry_login_server: str
    node_identity_resource_id: str
    node_identity_client_id: str
    resource_group: str
    location: str
    data_containers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, source: str) -> StackOutputs:
        """Build from a ``pulumi stack output --json`` style mapping.

        Raises ``ValueError`` naming every missing key and ``source``; callers turn it into
        a ``ConfigError``. Extra keys are ignored so that newer stacks work with older runners.
        A stack from before ``pools`` has one pool, ``default``, whose id is ``pool_id``.
        """
        missing = [
            name for name in OUTPUT_NAMES if not values.get(name) and name not in OPTIONAL_OUTPUTS
        ]
        if missing:
            raise ValueError(f"{source} is missing stack output(s): {', '.join(missing)}")
        given = {name: str(values[name]) for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS}
        return cls(
            **given,
            pools=_pools(values.get("pools"), given["pool_id"], source=source),
            data_containers=_data_containers(values.get("data_containers"), source=source),
        )

    def pool(self, name: str | None) -> PoolInfo:
        """The pool ``name`` (None: ``default``); ``KeyError`` when the stack has none such."""
        return self.pools[name or DEFAULT_POOL]


def _price(value: float | None, pool: str, *, source: str) -> float | None:
    if value is not None and not 0 <= value < float("inf"):
        raise ValueError(f"{source}: stack output pools.{pool}.pricePerNodeHour is not a price")
    return value


def _data_containers(value: Any, *, source: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{source}: data_containers must map '<account>/<container>' to a URL")
    return dict(value)


def _pools(value: Any, pool_id: str, *, source: str) -> dict[str, PoolInfo]:
    if value is None:
        return {
            DEFAULT_POOL: PoolInfo(DEFAULT_POOL, pool_id, None, None, None, None, None, None, None)
        }
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{source}: stack output pools is not a map of pool name to pool")
    return {
        str(name): PoolInfo.from_output(str(name), item, source=source)
        for name, item in value.items()
    }


assert tuple(f.name for f in fields(StackOutputs)) == OUTPUT_NAMES
