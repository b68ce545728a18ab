"""The pool's autoscale formula: zero nodes while idle, growing with pending tasks.

Based on Microsoft's pending-tasks sample. ``$PendingTasks`` counts active plus running tasks,
so nodes stay while work runs and go once the queue has been empty for a whole window.

- With fewer than 70 % of the window's samples (a fresh pool), the latest sample alone
  decides, so a first job does not wait for a full window before nodes are requested.
- Otherwise the larger of the latest sample and the window average decides: a burst scales
  up at once, a brief dip does not scale down.
- ``ceil(tasks / slots)`` nodes fill every task slot; Batch formulas compute in doubles, so
  the ``(tasks + slots - 1) / slots`` integer trick would request fractional nodes.
- Nodes are dedicated or Spot from config, never both. ``taskcompletion`` lets running
  tasks finish before a node is removed.

Pure functions, no Pulumi import: tests evaluate the formula text with sample queues.
"""

from __future__ import annotations

# How far back the formula looks at $PendingTasks, in seconds (Batch samples every 30 s).
WINDOW_SECONDS = 180
# Below this share of samples in the window, trust the latest sample alone.
MIN_SAMPLE_PERCENT = 70


def autoscale_formula(*, max_nodes: int, task_slots_per_node: int, spot: bool) -> str:
    """Formula text for a pool of up to ``max_nodes`` dedicated (or Spot) nodes."""
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    if task_slots_per_node < 1:
        raise ValueError(f"task_slots_per_node must be at least 1, got {task_slots_per_node}")
    window = f"{WINDOW_SECONDS} * TimeInterval_Second"
    dedicated, spot_nodes = ("0", "nodes") if spot else ("nodes", "0")
    return "\n".join(
        [
            f"maxNodes = {max_nodes};",
            f"slots = {task_slots_per_node};",
            f"pct = $PendingTasks.GetSamplePercent({window});",
            "latest = max(0, $PendingTasks.GetSample(1));",
            f"tasks = pct < {MIN_SAMPLE_PERCENT} ? latest"
            f" : max(latest, avg($PendingTasks.GetSample({window})));",
            "nodes = tasks > 0 ? min(maxNodes, ceil(tasks / slots)) : 0;",
            f"$TargetDedicatedNodes = {dedicated};",
            f"$TargetLowPriorityNodes = {spot_nodes};",
            "$NodeDeallocationOption = taskcompletion;",
        ]
    )
