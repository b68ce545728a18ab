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
    search = [
        f"n = n + {2**j} * ((n + {2**j - 1}) * slots < tasks);"
        for j in reversed(range(max_nodes.bit_length()))
    ]
    return "\n".join(
        [
            f"maxNodes = {max_nodes};",
            f"slots = {task_slots_per_node};",
            f"pct = $PendingTasks.GetSamplePercent({window});",
            "latest = max(0, $PendingTasks.GetSample(1));",
            f"tasks = pct < {MIN_SAMPLE_PERCENT} ? latest"
            f" : max(latest, avg($PendingTasks.GetSample({window})));",
            "n = 0;",
            *search,
            "nodes = min(maxNodes, n);",
            f"$TargetDedicatedNodes = {dedicated};",
            f"$TargetLowPriorityNodes = {spot_nodes};",
            "$NodeDeallocationOption = taskcompletion;",
        ]
    )
