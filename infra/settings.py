"""The stack's settings: every config key, read once into a typed, frozen object.

``SETTINGS`` is the single list of keys (type, default, description); ``Pulumi.yaml`` declares
the same keys with the same defaults, and a test keeps the two in step. Bad values stop the
program before any resource is declared, with one line naming every offending key.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pulumi

from superbatch.errors import ConfigError, SpecError
from superbatch.images.resolve import require_tag

if TYPE_CHECKING:
    from infra.pools import PoolSettings

PROJECT = "superbatch"

PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")

# Structured key: a map of pool name -> per-pool settings (infra.pools). Not in SETTINGS:
# Pulumi.yaml declares only strings, numbers, booleans and lists.
POOLS_KEY = "pools"


class InvalidSettingError(ConfigError, pulumi.RunError):
    """Stack config that cannot work. ``pulumi up`` prints it as one line, no traceback."""


@dataclass(frozen=True)
class Setting:
    """One config key as ``Pulumi.yaml`` declares it."""

    key: str
    type: str  # "string" | "integer" | "boolean" | "array" (of strings)
    default: str | int | bool | tuple[str, ...]
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "location",
        "string",
        "westeurope",
        "Azure region for every resource, e.g. westeurope.",
    ),
    Setting(
        "prefix",
        "string",
        "sb",
        "Start of every resource name: 1-12 lowercase letters, digits or hyphens.",
    ),
    Setting(
        "vmSize",
        "string",
        "Standard_D2s_v5",
        "VM size of the pool's nodes.",
    ),
    Setting(
        "maxNodes",
        "integer",
        2,
        "Most nodes the pool grows to (it idles at zero).",
    ),
    Setting(
        "spot",
        "boolean",
        False,
        "Use Spot nodes instead of dedicated ones (Spot core quota can be 0).",
    ),
    Setting(
        "taskSlotsPerNode",
        "integer",
        1,
        "Tasks that run at once on one node (1-256).",
    ),
    Setting(
        "osDiskSizeGb",
        "integer",
        128,
        "OS disk size of each node in GB; container images live there.",
    ),
    Setting(
        "imagePublisher",
        "string",
        "microsoft-dsvm",
        "Marketplace publisher of the node OS image.",
    ),
    Setting(
        "imageOffer",
        "string",
        "ubuntu-hpc",
        "Marketplace offer of the node OS image.",
    ),
    Setting(
        "imageSku",
        "string",
        "2204",
        "Marketplace SKU of the node OS image.",
    ),
    Setting(
        "imageVersion",
        "string",
        "latest",
        "Version of the node OS image.",
    ),
    Setting(
        "nodeAgentSku",
        "string",
        "batch.node.ubuntu 22.04",
        "Batch node agent SKU matching the image.",
    ),
    Setting(
        "prefetchImages",
        "array",
        (),
        "Container images every node pulls when it starts: full references, or short "
        "names (wordcount:1) in the stack's registry. Add an image only once it is "
        "pushed.",
    ),
    Setting(
        "autoscaleIntervalMinutes",
        "integer",
        5,
        "How often the autoscale formula runs, in minutes (5-10080).",
    ),
    Setting(
        "warmMinutes",
        "integer",
        0,
        "Minutes nodes stay after the last task ends, for quick re-runs (0-1440; 0: no idle cost).",
    ),
    Setting(
        "pricePerNodeHour",
        "string",
        "",
        "What one node of the pool costs per hour, such as 0.096 (your billing currency, "
        "no sign), for the cost in run --dry-run --estimate and report; empty: no cost "
        "shown. Never looked up. With pools, each pool gives its own.",
    ),
    Setting(
        "retentionDays",
        "integer",
        30,
        "Days after which job inputs, outputs and logs are deleted from storage.",
    ),
    Setting(
        "runnerPrincipalId",
        "string",
        "",
        "Object id of who runs jobs; empty means the principal running pulumi up.",
    ),
    Setting(
        "runnerPrincipalType",
        "string",
        "User",
        "Type of the runner principal: User, Group or ServicePrincipal (also when a CI "
        "service principal runs pulumi up and runnerPrincipalId is empty).",
    ),
    Setting(
        "dataContainers",
        "array",
        (),
        "Storage containers the stack does not own that jobs read az:// inputs from, each "
        "as resourceGroup/account/container (or subscriptionId/resourceGroup/account/"
        "container): the nodes and the runner get Storage Blob Data Reader on exactly these.",
    ),
    Setting(
        "protect",
        "boolean",
        False,
        "Protect stateful resources (storage, registry, Batch account) from deletion.",
    ),
)


@dataclass(frozen=True)
class PoolImage:
    """Marketplace image and matching node agent for the pool."""

    publisher: str
    offer: str
    sku: str
    version: str
    node_agent_sku_id: str


@dataclass(frozen=True)
class DataContainer:
    """A container outside the stack that jobs may read (``az://account/container/...``)."""

    subscription_id: str | None  # None: the stack's own subscription
    resource_group: str
    account: str
    container: str

    @property
    def key(self) -> str:
        return f"{self.account}/{self.container}"

    @property
    def url(self) -> str:
        return f"https://{self.account}.blob.core.windows.net/{self.container}"


@dataclass(frozen=True)
class Settings:
    """Everything the program needs from the stack's config."""

    location: str
    prefix: str
    vm_size: str
    max_nodes: int
    spot: bool
    task_slots_per_node: int
    os_disk_size_gb: int
    image: PoolImage
    prefetch_images: tuple[str, ...]
    autoscale_interval_minutes: int
    warm_minutes: int
    price_per_node_hour: float | None  # None: no price known (no cost is shown)
    retention_days: int
    runner_principal_id: str | None  # None: the principal running `pulumi up`
    runner_principal_type: str
    protect: bool
    data_containers: tuple[DataContainer, ...] = ()
    # Every pool of the stack, ``default`` first: from ``pools``, or the top-level keys above.
    pools: tuple[PoolSettings, ...] = ()

    def pool(self, name: str) -> PoolSettings:
        return next(pool for pool in self.pools if pool.name == name)


def load_settings(config: pulumi.Config | None = None) -> Settings:
    """Read and check the stack's config (the project namespace) once."""
    config = config or pulumi.Config()
    raw = {setting.key: config.get(setting.key) for setting in SETTINGS}
    raw[POOLS_KEY] = config.get(POOLS_KEY)
    return parse_settings(raw, namespace=config.name)


def parse_settings(raw: Mapping[str, str | None], *, namespace: str = PROJECT) -> Settings:
    """Check raw config strings (None: not set) and build :class:`Settings`.

    Raises :class:`InvalidSettingError` naming every bad key, as ``namespace:key`` (or
    ``namespace:pools.<name>.<key>`` for a key of one pool).
    """
    reader = _Reader(raw, namespace)
    settings = Settings(
        location=reader.text("location", r"[a-z][a-z0-9]*", "a region name such as westeurope"),
        prefix=reader.text(
            "prefix",
            r"[a-z][a-z0-9-]{0,11}",
            "1-12 lowercase letters, digits or hyphens, starting with a letter",
        ),
        vm_size=reader.text(
            "vmSize", r"[A-Za-z][A-Za-z0-9_]*", "a VM size such as Standard_D2s_v5"
        ),
        max_nodes=reader.integer("maxNodes", 1, 1000),
        spot=reader.boolean("spot"),
        task_slots_per_node=reader.integer("taskSlotsPerNode", 1, 256),
        os_disk_size_gb=reader.integer("osDiskSizeGb", 30, 4095),
        image=reader.pool_image(),
        prefetch_images=reader.image_list("prefetchImages"),
        autoscale_interval_minutes=reader.integer("autoscaleIntervalMinutes", 5, 10080),
        warm_minutes=reader.integer("warmMinutes", 0, 1440),
        price_per_node_hour=reader.price("pricePerNodeHour"),
        retention_days=reader.integer("retentionDays", 1, 36500),
        runner_principal_id=reader.principal_id("runnerPrincipalId"),
        runner_principal_type=reader.choice("runnerPrincipalType", PRINCIPAL_TYPES),
        protect=reader.boolean("protect"),
        data_containers=reader.data_containers("dataContainers"),
    )
    from infra.pools import read_pools  # infra.pools builds on this module's reader

    pools = read_pools(raw, settings, namespace, reader.problems)
    if reader.problems:
        raise InvalidSettingError("invalid stack config: " + "; ".join(reader.problems))
    return replace(settings, pools=pools)


_DEFAULTS: dict[str, Any] = {setting.key: setting.default for setting in SETTINGS}


class _Reader:
    """Parses one key at a time, collecting problems instead of stopping at the first."""

    def __init__(
        self,
        raw: Mapping[str, str | None],
        namespace: str,
        *,
        defaults: Mapping[str, Any] | None = None,
        path: str = "",
        problems: list[str] | None = None,
    ) -> None:
        self._raw = raw
        self._defaults = _DEFAULTS if defaults is None else defaults
        self.label = f"{namespace}:{path}"  # a key is named as f"{label}{key}"
        self.problems: list[str] = [] if problems is None else problems

    def _parse(self, key: str, parse: Callable[[str], Any], expected: str) -> Any:
        value = self._raw.get(key)
        if value is None:
            return self._defaults[key]
        try:
            return parse(value)
        except ValueError:
            self.problems.append(f"{self.label}{key} must be {expected} (got {value!r})")
            return self._defaults[key]

    def text(self, key: str, pattern: str, expected: str) -> str:
        def parse(value: str) -> str:
            if not re.fullmatch(pattern, value):
                raise ValueError(value)
            return value

        return str(self._parse(key, parse, expected))

    def integer(self, key: str, low: int, high: int) -> int:
        def parse(value: str) -> int:
            number = int(value.strip())
            if not low <= number <= high:
                raise ValueError(value)
            return number

        return int(self._parse(key, parse, f"a whole number from {low} to {high}"))

    def boolean(self, key: str) -> bool:
        def parse(value: str) -> bool:
            lowered = value.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(value)
            return lowered == "true"

        return bool(self._parse(key, parse, "true or false"))

    def price(self, key: str) -> float | None:
        """A price per node-hour: a finite number, zero or more; empty or unset: ``None``."""

        def parse(value: str) -> float | None:
            if not value.strip():
                return None
            if not _PRICE.fullmatch(value.strip()):  # digits and a point: no sign, no exponent
                raise ValueError(value)
            return float(value.strip())

        found = self._parse(key, parse, "a price of zero or more such as 0.096 (no currency sign)")
        return None if found is None or found == "" else float(found)

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        def parse(value: str) -> str:
            if value not in choices:
                raise ValueError(value)
            return value

        return str(self._parse(key, parse, "one of " + ", ".join(choices)))

    def principal_id(self, key: str) -> str | None:
        def parse(value: str) -> str:
            return str(uuid.UUID(value.strip())) if value.strip() else ""

        return str(self._parse(key, parse, "an object id (a GUID) or empty")) or None

    def pool_image(self) -> PoolImage:
        return PoolImage(
            publisher=self.text("imagePublisher", r"\S+", "not empty"),
            offer=self.text("imageOffer", r"\S+", "not empty"),
            sku=self.text("imageSku", r"\S+", "not empty"),
            version=self.text("imageVersion", r"\S+", "not empty"),
            node_agent_sku_id=self.text("nodeAgentSku", r"\S(?:.*\S)?", "not empty"),
        )

    def image_list(self, key: str) -> tuple[str, ...]:
        def parse(value: str) -> tuple[str, ...]:
            try:
                items = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(value) from error
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise ValueError(value)
            for item in items:  # the runner's own grammar: both read image names alike
                try:
                    require_tag(item)
                except SpecError as error:
                    raise ValueError(value) from error
            return tuple(items)

        expected = 'a list of tagged image references such as ["wordcount:1"]'
        return tuple(self._parse(key, parse, expected))

    def data_containers(self, key: str) -> tuple[DataContainer, ...]:
        def parse(value: str) -> tuple[DataContainer, ...]:
            try:
                items = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(value) from error
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(value)
            found = tuple(_data_container(item) for item in items)
            if len({c.key for c in found}) != len(found):
                raise ValueError(value)
            return found

        expected = 'a list of "resourceGroup/account/container" such as ["data-rg/mydata/raw"]'
        return tuple(self._parse(key, parse, expected))


_PRICE = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_RESOURCE_GROUP = re.compile(r"[-\w.()]{1,89}[-\w()]")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _data_container(item: str) -> DataContainer:
    parts = item.split("/")
    subscription = None
    if len(parts) == 4:
        subscription = str(uuid.UUID(parts[0]))
        parts = parts[1:]
    if len(parts) != 3:
        raise ValueError(item)
    group, account, container = parts
    if not (
        _RESOURCE_GROUP.fullmatch(group)
        and _ACCOUNT.fullmatch(account)
        and _CONTAINER.fullmatch(container)
    ):
        raise ValueError(item)
    return DataContainer(subscription, group, account, container)
