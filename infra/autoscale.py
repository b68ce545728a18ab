"""The pool's autoscale formula: zero nodes while idle, growing with pending tasks.

Based on Microsoft's pending-tasks sample. ``$PendingTasks`` counts active plus running tasks,
so nodes stay while work runs and go once the queue has been empty for a whole window.

- With fewer than 70 % of the window's samples (a fresh pool), the latest sample alone
  decides, so a first job does not wait for a full window before nodes are requested.
- Otherwise the larger of the latest sample and the window average decides: a burst scales
  up at once, a brief dip does not scale down.
- Exactly ``ceil(tasks / slots)`` nodes (capped at ``maxNodes``) fill every task slot, but
  ``ceil`` is not a documented formula function (batch-automatic-scaling.md lists avg, len,
  lg, ln, log, max, min, norm, percentile, rand, range, std, stop, sum, time, val) and Batch
  computes in doubles, so ``(tasks + slots - 1) / slots`` would ask for fractional nodes,
  whose rounding is unverified. Instead a binary search over node counts builds the answer
  from comparisons (each 0 or 1) times powers of two: ``n`` gains ``2^j`` while
  ``(n + 2^j - 1) * slots < tasks``, which ends at the largest ``n`` with
  ``(n - 1) * slots < tasks``, i.e. ``ceil(tasks / slots)``. Every value is a whole number,
  so the target is the same whether Batch rounds up, down or to nearest.
- Nodes are dedicated or Spot from config, or (``fallback``) Spot made up with dedicated
  nodes for Spot nodes that are preempted or were asked for and never came (quota 0, no
  capacity), never more than ``maxNodes`` in all. ``taskcompletion`` lets running tasks
  finish before a node is removed.
- ``warm_minutes`` (opt-in) keeps the nodes the busiest sample of the last N minutes needed,
  so a user who iterates finds nodes up; 0 keeps nothing.

Pure functions, no Pulumi import: tests evaluate the formula text with sample queues.
"""

from __future__ import annotations

from typing import Literal

SpotMode = Literal["dedicated", "spot", "fallback"]

# How far back the formula looks at $PendingTasks, in seconds (Batch samples every 30 s).
WINDOW_SECONDS = 180
# Below this share of samples in the window, trust the latest sample alone.
MIN_SAMPLE_PERCENT = 70


def autoscale_formula(
    *,
    max_nodes: int,
    task_slots_per_node: int,
    spot: bool | SpotMode,
    warm_minutes: int = 0,
) -> str:
    """Formula text for a pool of up to ``max_nodes`` dedicated, Spot or fallback nodes."""
    mode: SpotMode = ("spot" if spot else "dedicated") if isinstance(spot, bool) else spot
    if warm_minutes < 0:
        raise ValueError(f"warm_minutes must be at least 0, got {warm_minutes}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    if task_slots_per_node < 1:
        raise ValueError(f"task_slots_per_node must be at least 1, got {task_slots_per_node}")
    window = f"{WINDOW_SECONDS} * TimeInterval_Second"
    lines = [
        f"maxNodes = {max_nodes};",
        f"slots = {task_slots_per_node};",
        f"pct = $PendingTasks.GetSamplePercent({window});",
        "latest = max(0, $PendingTasks.GetSample(1));",
        f"tasks = pct < {MIN_SAMPLE_PERCENT} ? latest"
        f" : max(latest, avg($PendingTasks.GetSample({window})));",
    ]
    demand = "tasks"
    if warm_minutes:
        lines += _warm_lines(warm_minutes)
        demand = "warmTasks"
    lines += _node_count_lines(demand, max_nodes)
    lines += _split_lines(mode)
    lines.append("$NodeDeallocationOption = taskcompletion;")
    return "\n".join(lines)


def _node_count_lines(demand: str, max_nodes: int) -> list[str]:
    """``nodes = min(maxNodes, ceil(demand / slots))`` without ``ceil``: a binary search
    whose every step adds ``2^j`` times a comparison (0 or 1), so ``nodes`` is whole."""
    search = [
        f"n = n + {2**j} * ((n + {2**j - 1}) * slots < {demand});"
        for j in reversed(range(max_nodes.bit_length()))
    ]
    return ["n = 0;", *search, "nodes = min(maxNodes, n);"]


def _warm_lines(minutes: int) -> list[str]:
    """``warmTasks``: the busiest sample of the last ``minutes`` (once the window is sampled
    enough), so nodes stay that long after the last task."""
    warm = f"{minutes} * TimeInterval_Minute"
    return [
        f"warmPct = $PendingTasks.GetSamplePercent({warm});",
        f"recent = warmPct < {MIN_SAMPLE_PERCENT} ? latest : max($PendingTasks.GetSample({warm}));",
        "warmTasks = max(tasks, recent);",
    ]


def _split_lines(mode: SpotMode) -> list[str]:
    """``nodes`` split into dedicated and Spot targets."""
    if mode == "dedicated":
        return ["$TargetDedicatedNodes = nodes;", "$TargetLowPriorityNodes = 0;"]
    if mode == "spot":
        return ["$TargetDedicatedNodes = 0;", "$TargetLowPriorityNodes = nodes;"]
    # Spot first. Reading a target before assigning it gives the target now in force: Spot
    # nodes asked for last time that are not here and usable (preempted, or never
    # allocated) become dedicated, and dedicated nodes already asked for stay while the
    # work needs them. Spot gets what is left, so the total is ``nodes`` <= maxNodes.
    return [
        "preempted = max(0, $PreemptedNodeCount.GetSample(1));",
        "usableSpot = max(0, $CurrentLowPriorityNodes - preempted);",
        "missingSpot = max(0, $TargetLowPriorityNodes - usableSpot);",
        "dedicated = min(nodes, $TargetDedicatedNodes + missingSpot);",
        "$TargetDedicatedNodes = dedicated;",
        "$TargetLowPriorityNodes = nodes - dedicated;",
    ]
