"""The stack's pools: the ``pools`` config map, or one pool ``default`` from the top-level keys.

```yaml
superbatch:pools:
  default: {vmSize: Standard_D2s_v5, maxNodes: 2, spot: false}
  big:     {vmSize: Standard_E8s_v5, maxNodes: 4, spot: true, taskSlotsPerNode: 2,
            pricePerNodeHour: 0.12}
  gpu:     {vmSize: Standard_NC4as_T4_v3, maxNodes: 1, gpu: true}
```

Each entry takes the per-pool keys of the top level (:data:`POOL_KEYS`), whose values are its
defaults, plus ``gpu`` and ``pricePerNodeHour`` (never inherited: a price belongs to one VM
size); ``spot`` may also be ``fallback`` (Spot nodes, made up with dedicated
ones when Spot nodes are preempted or cannot be had). ``default`` must be one of them: jobs
that name no pool run there. Every bad value is one problem naming
``<namespace>:pools.<name>.<key>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.autoscale import SpotMode
from infra.settings import PoolImage, Settings, _Reader
from infra.vmsizes import VmSize, is_gpu_family, max_task_slots, vm_size

DEFAULT_POOL = "default"
POOL_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,14}[a-z0-9])?")

# Top-level keys that are settings of a pool (the defaults of every ``pools`` entry).
POOL_KEYS = (
    "vmSize",
    "maxNodes",
    "spot",
    "taskSlotsPerNode",
    "osDiskSizeGb",
    "imagePublisher",
    "imageOffer",
    "imageSku",
    "imageVersion",
    "nodeAgentSku",
    "prefetchImages",
    "autoscaleIntervalMinutes",
    "warmMinutes",
)
# Keys only a ``pools`` entry has. ``pricePerNodeHour`` is also a top-level key, but only for
# the stack without ``pools``: a price belongs to one VM size, so entries never inherit it.
ENTRY_ONLY_KEYS = ("gpu", "pricePerNodeHour")
PRICE_KEY = "pricePerNodeHour"


@dataclass(frozen=True)
class PoolSettings:
    """One pool of the stack."""

    name: str
    vm_size: str
    max_nodes: int
    spot: SpotMode
    task_slots_per_node: int
    os_disk_size_gb: int
    image: PoolImage
    prefetch_images: tuple[str, ...]
    autoscale_interval_minutes: int
    warm_minutes: int
    gpu: bool
    price_per_node_hour: float | None  # what one node costs per hour (None: not given)
    size: VmSize | None  # vCPUs, memory, GPUs of vm_size (None: not even vCPUs known)


def read_pools(
    raw: Mapping[str, str | None], top: Settings, namespace: str, problems: list[str]
) -> tuple[PoolSettings, ...]:
    """The pools of ``raw["pools"]`` (a JSON object), else one pool ``default`` from ``top``."""
    text = raw.get("pools")
    if text is None:
        defaults = {**_top_defaults(top), PRICE_KEY: top.price_per_node_hour}
        reader = _Reader({}, namespace, defaults=defaults, problems=problems)
        return (_read_pool(reader, DEFAULT_POOL, label_prefix=f"{namespace}:"),)
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        entries = None
    if not isinstance(entries, dict) or not entries:
        problems.append(
            f"{namespace}:pools must be a map of pool name to settings, such as "
            f'{{"default": {{"vmSize": "Standard_D2s_v5"}}}} (got {text!r})'
        )
        return ()
    if top.price_per_node_hour is not None:
        problems.append(
            f"{namespace}:{PRICE_KEY} is the price of the stack without pools; with pools "
            f"give each pool its own ({namespace}:pools.<name>.{PRICE_KEY}): VM sizes differ"
        )
    pools = []
    for name, entry in entries.items():
        where = f"{namespace}:pools.{name}"
        if not isinstance(name, str) or not POOL_NAME.fullmatch(name):
            problems.append(
                f"{where} must be named with 1-16 lowercase letters, digits or inner hyphens, "
                "starting with a letter"
            )
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a map of settings (got {entry!r})")
            continue
        known = POOL_KEYS + ENTRY_ONLY_KEYS
        for key in entry:
            if key not in known:
                problems.append(f"{where}.{key} is not a pool setting (known: {', '.join(known)})")
        values = {key: _as_config_string(value) for key, value in entry.items() if key in known}
        reader = _Reader(
            values,
            namespace,
            defaults=_top_defaults(top),
            path=f"pools.{name}.",
            problems=problems,
        )
        pools.append(_read_pool(reader, name, label_prefix=f"{where}."))
    if DEFAULT_POOL not in entries:
        problems.append(
            f"{namespace}:pools must include a pool named {DEFAULT_POOL} (jobs that name no pool "
            f"run there; the config names {', '.join(map(str, entries))})"
        )
    pools.sort(key=lambda pool: pool.name != DEFAULT_POOL)
    return tuple(pools)


def _top_defaults(top: Settings) -> dict[str, Any]:
    return {
        "vmSize": top.vm_size,
        "maxNodes": top.max_nodes,
        "spot": "spot" if top.spot else "dedicated",
        "taskSlotsPerNode": top.task_slots_per_node,
        "osDiskSizeGb": top.os_disk_size_gb,
        "imagePublisher": top.image.publisher,
        "imageOffer": top.image.offer,
        "imageSku": top.image.sku,
        "imageVersion": top.image.version,
        "nodeAgentSku": top.image.node_agent_sku_id,
        "prefetchImages": top.prefetch_images,
        "autoscaleIntervalMinutes": top.autoscale_interval_minutes,
        "warmMinutes": top.warm_minutes,
        "gpu": False,
        PRICE_KEY: None,
    }


def _as_config_string(value: Any) -> str:
    """A JSON value of the ``pools`` map as Pulumi hands a top-level key: a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _read_pool(reader: _Reader, name: str, *, label_prefix: str) -> PoolSettings:
    spot_text = reader.text(
        "spot", r"(?i)true|false|fallback|spot|dedicated", "true, false or fallback"
    ).lower()
    spot: SpotMode = {"true": "spot", "false": "dedicated"}.get(spot_text, spot_text)  # type: ignore[assignment]
    vm = reader.text("vmSize", r"[A-Za-z][A-Za-z0-9_-]*", "a VM size such as Standard_D2s_v5")
    pool = PoolSettings(
        name=name,
        vm_size=vm,
        max_nodes=reader.integer("maxNodes", 1, 1000),
        spot=spot,
        task_slots_per_node=reader.integer("taskSlotsPerNode", 1, 256),
        os_disk_size_gb=reader.integer("osDiskSizeGb", 30, 4095),
        image=reader.pool_image(),
        prefetch_images=reader.image_list("prefetchImages"),
        autoscale_interval_minutes=reader.integer("autoscaleIntervalMinutes", 5, 10080),
        warm_minutes=reader.integer("warmMinutes", 0, 1440),
        gpu=reader.boolean("gpu"),
        price_per_node_hour=reader.price(PRICE_KEY),
        size=vm_size(vm),
    )
    if pool.size is not None and pool.task_slots_per_node > max_task_slots(pool.size.cores):
        reader.problems.append(
            f"{label_prefix}taskSlotsPerNode must be at most {max_task_slots(pool.size.cores)} "
            f"on {vm} ({pool.size.cores} vCPUs; Batch allows 4 per vCPU) "
            f"(got {pool.task_slots_per_node})"
        )
    if pool.gpu and not is_gpu_family(vm):
        reader.problems.append(
            f"{label_prefix}gpu needs a GPU VM size (N-series, such as Standard_NC4as_T4_v3) "
            f"(got vmSize {vm!r})"
        )
    return pool
