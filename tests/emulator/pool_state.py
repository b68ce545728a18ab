"""What a test can inject into a pool (quotas, allocation and node failures) and the
``resizeErrors`` they produce, with Batch's codes.

Codes: ``AccountCoreQuotaReached``, ``AccountLowPriorityCoreQuotaReached``,
``AccountSpotCoreQuotaReached`` and ``AllocationFailed`` ("Desired number of dedicated nodes
could not be allocated", value ``Reason``) from Microsoft's "Azure Batch pool resizing failure"
troubleshooting article and the .NET SDK's ``PoolResizeErrorCodes``. Which of the two Spot
codes a given account gets is *unverified*: ``spot_quota_code`` picks one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.pools import Pool

# A node that fails to start (unusable), e.g. its start task or image pull failed.
NODE_START_FAILED = {
    "code": "NodeStartFailed",  # emulator's stand-in: Batch's node error codes vary by cause
    "message": "The node could not be started",
    "errorDetails": [{"name": "Reason", "value": "injected by the test"}],
}

NODE_FAILED = {
    "code": "NodeUnusable",  # the emulator's: Batch's node error codes vary by cause
    "message": "The node became unusable",
    "errorDetails": [{"name": "Reason", "value": "injected by the test"}],
}


def round_target(value: float, rounding: str) -> int:
    """A formula's target as a node count. How Batch rounds fractions is *unverified*."""
    value = max(0.0, value)
    if rounding == "up":
        return math.ceil(value)
    if rounding == "nearest":
        return math.floor(value + 0.5)
    return math.floor(value)


@dataclass
class PoolInjections:
    """Failures a test turns on: ``emulator.pool().inject.core_quota = 0`` and so on."""

    core_quota: int | None = None  # dedicated vCPUs the account may still use (None: no limit)
    spot_core_quota: int | None = None  # Spot / low-priority vCPUs
    spot_quota_code: str = "AccountLowPriorityCoreQuotaReached"
    allocation_failure: str | None = None  # a Reason: no node of the asked kind is allocated
    node_failure: dict[str, Any] | None = None  # new nodes end their start as unusable
    unpullable: set[str] = field(default_factory=set)  # images whose pull fails (host mode)

    def fail_node_start(self, error: dict[str, Any] | None = None) -> None:
        self.node_failure = dict(error or NODE_START_FAILED)

    def allowed(
        self, pool: Pool, dedicated: bool, wanted: int
    ) -> tuple[int, dict[str, Any] | None]:
        """How many of ``wanted`` new nodes may be allocated, and the resize error if not all."""
        kind = "dedicated" if dedicated else "low-priority"
        if self.allocation_failure is not None:
            return 0, {
                "code": "AllocationFailed",
                "message": f"Desired number of {kind} nodes could not be allocated",
                "values": [{"name": "Reason", "value": self.allocation_failure}],
            }
        quota = self.core_quota if dedicated else self.spot_core_quota
        if quota is None:
            return wanted, None
        from tests.emulator.pools import VM_CORES

        cores = VM_CORES.get(pool.spec.vm_size.lower(), 2)
        used = cores * sum(1 for n in pool.nodes if n.dedicated == dedicated)
        fits = max(0, (quota - used) // cores)
        if fits >= wanted:
            return wanted, None
        code = "AccountCoreQuotaReached" if dedicated else self.spot_quota_code
        return fits, {
            "code": code,
            "message": f"The specified account has reached its {kind} core quota",
            "values": [{"name": "Reason", "value": f"{kind} core quota {quota}"}],
        }


@dataclass
class ResizeErrors:
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, error: dict[str, Any]) -> None:
        if all(e["code"] != error["code"] for e in self.errors):
            self.errors.append(error)

    def clear(self) -> None:
        self.errors.clear()

    def __bool__(self) -> bool:
        return bool(self.errors)

    def wire(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.errors]
