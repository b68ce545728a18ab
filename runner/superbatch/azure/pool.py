"""The pool as a waiting job sees it: nodes coming, and why none can come.

Tasks wait in ``active`` and no job or task call says why: the reason is on the pool
(``resizeErrors``, ``autoScaleRun.error``) or its nodes (``unusable``, ``starttaskfailed``,
node ``errors``). While tasks wait for nodes, :class:`PoolWatch` reads the pool with at most
one request per poll: the pool itself (targets, allocation state, autoscale run, resize
errors), and once it has nodes, every other poll their states instead.

Times come from the service's own clock (the ``Date`` header of the pool answer), so "next
autoscale evaluation in about 3 min" and how long a job has been stuck do not depend on
this machine's clock.

Reading pools needs ``Microsoft.Batch/batchAccounts/pools/read``, which the runner's
*Azure Batch Job Submitter* role holds (its actions list it; Microsoft Learn, "Role-based
access control for Azure Batch service"). If the read is refused anyway, the job is still
followed by its task counts, with one line saying the pool cannot be seen.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from superbatch.azure import boots
from superbatch.azure.errors import error_code
from superbatch.azure.wire import wire_enum
from superbatch.model import PoolState

if TYPE_CHECKING:
    from azure.batch import BatchClient

_LOGGER = logging.getLogger(__name__)

POOL_FIELDS = (
    "id,allocationState,allocationStateTransitionTime,currentDedicatedNodes,currentLowPriorityNodes,targetDedicatedNodes,"
    "targetLowPriorityNodes,enableAutoScale,autoScaleEvaluationInterval,autoScaleRun,"
    "resizeErrors"
)
# and what azure/boots.py notes of each node's start (vmSize, allocation and ready times)
NODE_FIELDS = (
    "id,state,errors,isDedicated,vmSize,allocationTime,lastBootTime,stateTransitionTime,"
    "totalTasksRun"
)
# Node states that will never run a task without someone acting (REST ComputeNodeState).
DEAD_NODE_STATES = {"unusable", "starttaskfailed"}
READY_NODE_STATES = {"idle", "running"}
COMING_NODE_STATES = {
    "creating",
    "starting",
    "waitingforstarttask",
    "rebooting",
    "reimaging",
    "upgradingos",
}
# Pool resize error codes (Microsoft.Azure.Batch.Common.PoolResizeErrorCodes) -> what to do.
SPOT_QUOTA_CODES = {"AccountLowPriorityCoreQuotaReached", "AccountSpotCoreQuotaReached"}
QUOTA_CODES = {"AccountCoreQuotaReached", "AccountVMSeriesCoreQuotaReached"}
CAPACITY_CODES = {"AllocationFailed", "AllocationTimedOut", "OverconstrainedAllocationRequest"}


@dataclass
class PoolAnswer:
    """One GET of the pool, with the service's time of answering."""

    wire: dict[str, Any]
    service_time: float | None


def _service_time(headers: Any) -> float | None:
    raw = headers.get("Date") or headers.get("date")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None


def _get(client: BatchClient, path: str, select: str) -> tuple[dict[str, Any], float | None]:
    from azure.core.rest import HttpRequest

    request = HttpRequest(
        "GET",
        path,
        params={"api-version": client._config.api_version, "$select": select},
        headers={"accept": "application/json"},
    )
    response = client.send_request(request)  # auth, retries, Batch error mapping
    response.raise_for_status()
    return json.loads(response.read() or b"{}"), _service_time(response.headers)


def read_pool(client: BatchClient, pool_id: str) -> PoolAnswer:
    wire, when = _get(client, f"/pools/{pool_id}", POOL_FIELDS)
    return PoolAnswer(wire, when)


def read_nodes(
    client: BatchClient, pool_id: str, fields: str = NODE_FIELDS
) -> list[dict[str, Any]]:
    wire, _ = _get(client, f"/pools/{pool_id}/nodes", fields)
    return list(wire.get("value", []))


def iso_seconds(value: str | None) -> float | None:
    """``PT5M`` / ``PT1H30M`` / ``P1DT2H`` -> seconds (None when absent or unreadable)."""
    if not value:
        return None
    match = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", value.strip()
    )
    if not match:
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _error_text(error: dict[str, Any]) -> str:
    code = str(error.get("code") or "error")
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return f"{code}: {str(message).strip()}" if message else code


def _resize_advice(code: str, spot: bool) -> str:
    if code in SPOT_QUOTA_CODES or (spot and code in QUOTA_CODES):
        return (
            "request Spot (low-priority) core quota for the Batch account (portal: Batch "
            "account > Quotas), or use dedicated nodes: `pulumi config set spot false && "
            "pulumi up`"
        )
    if code in QUOTA_CODES:
        return (
            "request more dedicated core quota for the VM family (portal: Batch account > "
            "Quotas), or a smaller vmSize/maxNodes"
        )
    if code in CAPACITY_CODES:
        alternative = "dedicated nodes (`spot false`)" if spot else "another vmSize or region"
        return f"Azure has no capacity for this size now: retry later, or use {alternative}"
    return "see the pool in the portal (Batch account > Pools > Resize errors)"


def _node_advice(errors: list[dict[str, Any]], state: str) -> str:
    text = " ".join(_error_text(e) for e in errors).lower()
    if "image" in text or "container" in text or "pull" in text:
        return (
            "fix the image (it must exist and the pool's identity needs AcrPull), then `pulumi up`"
        )
    if state == "starttaskfailed":
        return "fix the pool's start task, then `pulumi up`"
    return "the node cannot run tasks: see it in the portal; the pool replaces it once removed"


def pool_state(
    answer: PoolAnswer,
    nodes: list[dict[str, Any]] | None,
    *,
    pool_id: str,
) -> PoolState:
    """What the pool does for waiting tasks, and the one problem that stops it, if any."""
    wire = answer.wire
    dedicated = int(wire.get("currentDedicatedNodes") or 0)
    low = int(wire.get("currentLowPriorityNodes") or 0)
    target_dedicated = int(wire.get("targetDedicatedNodes") or 0)
    target_low = int(wire.get("targetLowPriorityNodes") or 0)
    spot = target_low > 0 or (low > 0 and dedicated == 0)
    state = wire_enum(wire.get("allocationState")) or "steady"
    next_evaluation = None
    run = wire.get("autoScaleRun") or {}
    if wire.get("enableAutoScale"):
        interval = iso_seconds(wire.get("autoScaleEvaluationInterval"))
        last = _epoch(run.get("timestamp"))
        if interval and last is not None and answer.service_time is not None:
            ahead = last + interval - answer.service_time
            while ahead < 0:  # a run we have not seen yet is due: the one after it
                ahead += interval
            next_evaluation = ahead
    counts: dict[str, int] | None = None
    dead: list[dict[str, Any]] = []
    if nodes is not None:
        counts = {}
        for node in nodes:
            node_state = wire_enum(node.get("state")) or "unknown"
            counts[node_state] = counts.get(node_state, 0) + 1
            if node_state in DEAD_NODE_STATES:
                dead.append(node)
    current, target = dedicated + low, target_dedicated + target_low
    ready = counts is not None and any(counts.get(s, 0) for s in READY_NODE_STATES)
    problem = None
    stuck = False
    resize_errors = wire.get("resizeErrors") or []
    if resize_errors and current < max(target, 1):
        first = resize_errors[0]
        code = str(first.get("code") or "")
        problem = (
            f"cannot get nodes: pool {pool_id}: {_error_text(first)}: "
            f"{_resize_advice(code, spot or target_low > 0)}"
        )
        stuck = not ready and current == 0
    elif run.get("error") and current == 0:
        problem = (
            f"cannot get nodes: pool {pool_id}: the autoscale formula failed "
            f"({_error_text(run['error'])}): fix `infra/` and `pulumi up`"
        )
        stuck = True
    elif (
        dead
        and not ready
        and counts is not None
        and not any(counts.get(s, 0) for s in COMING_NODE_STATES)
    ):
        node = dead[0]
        errors = list(node.get("errors") or [])
        why = _error_text(errors[0]) if errors else f"node is {node.get('state')}"
        problem = (
            f"cannot run tasks: pool {pool_id}: {len(dead)} node(s) "
            f"{node.get('state')} ({why}): {_node_advice(errors, str(node.get('state')))}"
        )
        stuck = current <= len(dead) and target <= current
    return PoolState(
        pool_id=pool_id,
        allocation_state=state,
        current=current,
        target=target,
        spot=spot,
        nodes=counts,
        next_evaluation_seconds=next_evaluation,
        problem=problem,
        stuck=stuck,
    )


def _stuck_since(answer: PoolAnswer) -> float | None:
    """When the pool stopped trying: the allocation settling with resize errors, or the
    failed autoscale run; else now. So a later ``wait`` on a job stuck for an hour gives up
    at once instead of waiting the full grace again."""
    wire = answer.wire
    if wire.get("resizeErrors"):
        since = _epoch(wire.get("allocationStateTransitionTime"))
    else:
        since = _epoch((wire.get("autoScaleRun") or {}).get("timestamp"))
    return since if since is not None else answer.service_time


class PoolWatch:
    """Reads the pool while tasks wait for nodes: one request per poll at most."""

    def __init__(self, client: BatchClient, pool_id: str) -> None:
        self._client = client
        self.pool_id = pool_id
        self._answer: PoolAnswer | None = None
        self._nodes: list[dict[str, Any]] | None = None
        self._read_nodes_next = False
        self.refused: str | None = None  # why the pool cannot be read (then never again)
        self.stuck_since: float | None = None  # service time the job was first seen stuck
        self.last: PoolState | None = None
        self.requests = 0

    def poll(self) -> PoolState | None:
        """Read once (pool or nodes, alternating once the pool has nodes); the new state."""
        if self.refused is not None:
            return None
        try:
            self.requests += 1
            if self._read_nodes_next and self._answer is not None:
                self._nodes = read_nodes(self._client, self.pool_id)
                boots.record(self.pool_id, self._nodes)  # how long they took, for `status`
            else:
                self._answer = read_pool(self._client, self.pool_id)
        except Exception as exc:
            return self._after_error(exc)
        wire = self._answer.wire
        has_nodes = (wire.get("currentDedicatedNodes") or 0) + (
            wire.get("currentLowPriorityNodes") or 0
        )
        if not has_nodes:
            self._nodes = []  # no nodes: nothing to list
        self._read_nodes_next = bool(has_nodes) and not self._read_nodes_next
        state = pool_state(self._answer, self._nodes, pool_id=self.pool_id)
        if not state.stuck:
            self.stuck_since = None
        elif self.stuck_since is None:
            self.stuck_since = _stuck_since(self._answer)
        self.last = state
        return state

    def stuck_for(self) -> float:
        """Seconds (service clock) the job has been stuck at the last read; 0 if it is not."""
        if self.stuck_since == 0.0:  # the pool is gone
            return float("inf")
        if self.stuck_since is None or self._answer is None or self._answer.service_time is None:
            return 0.0
        return self._answer.service_time - self.stuck_since

    def _after_error(self, exc: Exception) -> PoolState | None:
        """A refused read stops pool reads (one warning); a missing pool is a stuck job;
        anything else skips this poll (the next one reads again)."""
        status = getattr(exc, "status_code", None)
        code = error_code(exc) or type(exc).__name__
        if status in (401, 403):
            self.refused = (
                f"cannot read pool {self.pool_id} ({code}): following the job without pool "
                "details; the runner needs 'Azure Batch Job Submitter' on the Batch account"
            )
            _LOGGER.warning(self.refused)
            return None
        if code == "PoolNotFound":
            self.last = PoolState(
                self.pool_id, "steady", 0, 0, False,
                problem=f"cannot get nodes: pool {self.pool_id} does not exist: `pulumi up` "
                "creates it (or the stack outputs name another stack's pool)",
                stuck=True,
            )  # fmt: skip
            if self.stuck_since is None:
                self.stuck_since = 0.0  # nothing will ever change this: give up at once
            return self.last
        _LOGGER.debug("reading pool %s failed: %s", self.pool_id, exc)
        return None
