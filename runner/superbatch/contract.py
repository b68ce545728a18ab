"""The stack-outputs contract between ``infra/`` and the runner.

``infra/__main__.py`` exports exactly the names in :data:`EXPORTED_NAMES` and the runner
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
    "pool_id": "id of the container pool tasks run on",
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
}
# Structured outputs (not strings). A stack deployed before one existed may lack it: the
# runner reads it as empty.
OPTIONAL_OUTPUT_DESCRIPTIONS: dict[str, str] = {
    "data_containers": "containers the nodes may read az:// inputs from: "
    '{"<account>/<container>": "<container URL>"} (stack config dataContainers)',
}

OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_DESCRIPTIONS)  # required, strings
EXPORTED_NAMES: tuple[str, ...] = OUTPUT_NAMES + tuple(OPTIONAL_OUTPUT_DESCRIPTIONS)


@dataclass(frozen=True)
class StackOutputs:
    """What the runner needs to submit against one stack (one environment)."""

    batch_account_endpoint: str
    batch_account_name: str
    pool_id: str
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
        """
        missing = [name for name in OUTPUT_NAMES if not values.get(name)]
        if missing:
            raise ValueError(f"{source} is missing stack output(s): {', '.join(missing)}")
        containers = values.get("data_containers") or {}
        if not isinstance(containers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in containers.items()
        ):
            raise ValueError(f"{source}: data_containers must map '<account>/<container>' to a URL")
        return cls(
            **{name: str(values[name]) for name in OUTPUT_NAMES},
            data_containers=dict(containers),
        )


assert tuple(f.name for f in fields(StackOutputs)) == EXPORTED_NAMES
