"""How long nodes of a VM size took to start, as this machine has seen them (for ``status``).

Batch keeps nothing about nodes that have left the pool, and a pool idling at zero has none,
so the runner notes each node it sees ready while it follows a job (``wait``, ``status``):
from ``allocationTime`` to the moment the node turned idle (``stateTransitionTime`` of an
idle node that has run no task yet), else to its ``lastBootTime`` (the node's start as Batch
records it, as ``check`` measures it). The newest :data:`KEEP` per VM size live in
``node-starts.json`` beside the job index. ``status`` shows their median; without any, the
commonly reported range and where it is reported.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from superbatch.jobindex import index_path

_LOGGER = logging.getLogger(__name__)

STORE_NAME = "node-starts.json"
KEEP = 20  # measurements per VM size
# "3-8 minutes before a node exists is commonly reported" (GitHub Azure/Batch#145).
REPORTED = "3-8 minutes"
REPORTED_BY = "commonly reported: github.com/Azure/Batch/issues/145"
NODE_FIELDS = "vmSize,allocationTime,lastBootTime,stateTransitionTime,totalTasksRun"


def store_path() -> Path:
    return index_path().parent / STORE_NAME


def _epoch(stamp: Any) -> float | None:
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def start_seconds(node: dict[str, Any]) -> float | None:
    """Seconds from allocation to ready for one node (wire fields), None if not ready yet."""
    allocated = _epoch(node.get("allocationTime"))
    state = str(node.get("state") or "").lower()
    if allocated is None or state not in ("idle", "running"):
        return None
    if state == "idle" and not node.get("totalTasksRun"):
        ready = _epoch(node.get("stateTransitionTime"))  # idle since it started
    else:
        ready = _epoch(node.get("lastBootTime"))
    if ready is None or ready < allocated:
        return None
    return ready - allocated


def _load() -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(store_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(pool_id: str, nodes: Iterable[dict[str, Any]]) -> None:
    """Note the start of every ready node not noted yet; never raises."""
    try:
        data = _load()
        changed = False
        for node in nodes:
            size, seconds = str(node.get("vmSize") or "").lower(), start_seconds(node)
            if not size or seconds is None:
                continue
            key = f"{pool_id}/{node.get('id')}@{node.get('allocationTime')}"
            seen = data.setdefault(size, [])
            if any(entry.get("node") == key for entry in seen):
                continue
            seen.append({"node": key, "seconds": round(seconds, 1)})
            del seen[:-KEEP]
            changed = True
        if changed:
            path = store_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(data, indent=1))
            temporary.replace(path)
    except Exception as exc:  # a note for `status`; never the job's problem
        _LOGGER.debug("could not note node starts: %s", exc)


def usual_start(vm_size: str) -> str:
    """``took about 4 min to start here (median of 3)``, else the reported range."""
    seen = [e.get("seconds") for e in _load().get(vm_size.lower(), [])]
    measured = [float(s) for s in seen if isinstance(s, (int, float))]
    if not measured:
        return f"{vm_size} nodes usually take {REPORTED} to start ({REPORTED_BY})"
    median = statistics.median(measured)
    took = f"{median / 60:.1f} min" if median >= 90 else f"{median:.0f} s"
    return (
        f"{vm_size} nodes took {took} to start here (median of {len(measured)} measured, "
        f"{min(measured) / 60:.1f}-{max(measured) / 60:.1f} min)"
    )
