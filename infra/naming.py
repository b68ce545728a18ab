"""Physical names for every Azure resource of one stack.

Each Azure service has its own naming rules, and three of our resources (storage account,
container registry, Batch account) live in global or regional DNS namespaces. Pulumi's
auto-naming only appends random hex: it neither lower-cases nor enforces lengths. So names are
built here, from the prefix and stack name (readable) plus a short hash of subscription,
prefix and stack (unique per subscription and stack, and stable: the same inputs always give
the same names, so re-runs never rename anything).

Pure functions, no Pulumi import: the property-based tests exercise them directly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Hex digits of the stable hash appended to globally unique names.
HASH_LENGTH = 8

STORAGE_ACCOUNT_MAX = 24  # 3-24, lowercase letters and digits, globally unique
BATCH_ACCOUNT_MAX = 24  # 3-24, lowercase letters and digits, unique per region
REGISTRY_MAX = 50  # 5-50, alphanumerics, globally unique
RESOURCE_GROUP_MAX = 90  # 1-90, letters, digits, - _ . ( ), not ending in '.'
IDENTITY_MAX = 128  # 3-128, letters, digits, - _, starting with a letter or digit
POOL_ID_MAX = 64  # 1-64, letters, digits, - _

# Used when the prefix and stack contribute no usable character, and to make every name
# start with a letter (some services reject a leading digit or hyphen).
FALLBACK_STEM = "sb"


@dataclass(frozen=True)
class StackNames:
    """Every physical name one stack uses."""

    resource_group: str
    storage_account: str
    registry: str
    batch_account: str
    node_identity: str
    account_identity: str
    pool_id: str


def stable_hash(*parts: str, length: int = HASH_LENGTH) -> str:
    """Lowercase hex digest of ``parts``; identical inputs give identical output, always."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _dashed(text: str) -> str:
    """Lowercase letters, digits and single inner hyphens."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def _starting_with_letter(stem: str) -> str:
    return stem if stem[:1].isalpha() else FALLBACK_STEM + stem


def compact_name(prefix: str, stack: str, suffix: str, *, limit: int) -> str:
    """``<prefix><stack><suffix>`` in lowercase letters and digits, cut to ``limit``.

    The suffix (the hash) is kept whole; the readable stem is what gets cut.
    """
    stem = _starting_with_letter(_alphanumeric(prefix) + _alphanumeric(stack))
    return stem[: limit - len(suffix)] + suffix


def dashed_name(prefix: str, stack: str, kind: str, *, limit: int) -> str:
    """``<prefix>-<stack>-<kind>`` in lowercase letters, digits and hyphens, cut to ``limit``."""
    stem = _dashed(f"{prefix}-{stack}")
    stem = _starting_with_letter(stem) if stem else FALLBACK_STEM
    tail = f"-{kind}"
    return stem[: limit - len(tail)].rstrip("-") + tail


def pool_id(prefix: str, stack: str, pool: str) -> str:
    """Batch pool id of the stack's pool ``pool``: ``default`` keeps the single-pool id."""
    kind = "pool" if pool == "default" else f"pool-{pool}"
    return dashed_name(prefix, stack, kind, limit=POOL_ID_MAX)


def stack_names(*, prefix: str, stack: str, subscription_id: str) -> StackNames:
    """All names for ``stack`` deployed with ``prefix`` into ``subscription_id``."""
    suffix = stable_hash(subscription_id.lower(), prefix, stack)
    return StackNames(
        resource_group=dashed_name(prefix, stack, "rg", limit=RESOURCE_GROUP_MAX),
        storage_account=compact_name(prefix, stack, suffix, limit=STORAGE_ACCOUNT_MAX),
        registry=compact_name(prefix, stack, suffix, limit=REGISTRY_MAX),
        batch_account=compact_name(prefix, stack, suffix, limit=BATCH_ACCOUNT_MAX),
        node_identity=dashed_name(prefix, stack, "nodes-id", limit=IDENTITY_MAX),
        account_identity=dashed_name(prefix, stack, "batch-id", limit=IDENTITY_MAX),
        pool_id=pool_id(prefix, stack, "default"),
    )
