"""Which tasks run on which node, and what happens to them when their node goes away.

A mixin of :class:`tests.emulator.store.Account` (its ``jobs``, ``lock`` and ``changed``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.store import Job, Task


class NodeTasks:
    jobs: dict[str, Job]
    lock: threading.RLock
    changed: threading.Condition

    def running_tasks(self) -> list[Task]:
        return [
            task
            for job in self.jobs.values()
            for task in job.tasks.values()
            if task.state in ("running", "preparing")
        ]

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return [task for task in self.running_tasks() if task.node_id == node_id]

    def requeue_node_tasks(self, node_id: str) -> None:
        """The node is going (preempted, removed with requeue): its tasks run again elsewhere."""
        for task in self.tasks_on_node(node_id):
            task.stop_reason = "requeue"
        self.changed.notify_all()

    def requeue(self, task: Task) -> None:
        """Back to active after its node went away (``requeueCount``, not ``retryCount``)."""
        with self.lock:
            info = task.wire["executionInfo"]
            info["requeueCount"] = int(info.get("requeueCount", 0)) + 1
            for key in ("startTime", "endTime", "exitCode", "result", "failureInfo"):
                info.pop(key, None)
            task.wire.pop("nodeInfo", None)
            task.stop_reason = None
            task.node_id = None
            task.set_state("active")
            self.changed.notify_all()

    @staticmethod
    def dependencies_met(job: Job, task: Task) -> bool:
        depends = task.wire.get("dependsOn") or {}
        needed = [str(i) for i in depends.get("taskIds") or []]
        for id_range in depends.get("taskIdRanges") or []:
            needed += [str(i) for i in range(id_range["start"], id_range["end"] + 1)]
        for parent_id in needed:
            parent = job.tasks.get(parent_id.lower())
            if parent is None or parent.state != "completed":
                return False
            failed = parent.wire["executionInfo"].get("result") != "success"
            # Batch's default on failure is to block; exitConditions may say satisfy
            if failed and _dependency_action(parent.wire) != "satisfy":
                return False
        return True


def _dependency_action(task: dict[str, Any]) -> str:
    """exitConditions' dependencyAction for the task's exit code: the exitCodes entry for
    it, else an exitCodeRanges entry, else default; "block" when none says otherwise."""
    conditions = task.get("exitConditions") or {}
    code = (task.get("executionInfo") or {}).get("exitCode")
    chosen = None
    for item in conditions.get("exitCodes") or []:
        if code is not None and item.get("code") == code:
            chosen = item.get("exitOptions")
            break
    else:
        for item in conditions.get("exitCodeRanges") or []:
            if code is not None and item.get("start", 0) <= code <= item.get("end", -1):
                chosen = item.get("exitOptions")
                break
        else:
            chosen = conditions.get("default")
    return str((chosen or {}).get("dependencyAction") or "block").lower()
