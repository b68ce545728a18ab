"""The emulated account's state: pools, jobs and tasks, as Batch's wire JSON.

Everything is guarded by one lock; ``changed`` (a condition on it) wakes the scheduler.
Ids are case-preserving and unique case-insensitively (keys are lower-cased).
"""

from __future__ import annotations

import datetime
import itertools
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulator import casing
from tests.emulator.errors import BatchServiceError, not_found
from tests.emulator.node_tasks import NodeTasks
from tests.emulator.pools import Pool, PoolSpec
from tests.emulator.validation import validate_job, validate_job_patch, validate_task

if TYPE_CHECKING:
    from tests.emulator.clock import Clock

_etags = itertools.count(1)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def etag() -> str:
    return f'"0x8DE{next(_etags):013X}"'


class _WireState:
    """Id, state and state transitions of a job or task, kept in its wire JSON as Batch shows it."""

    wire: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.wire["id"])

    @property
    def state(self) -> str:
        return str(self.wire["state"])

    def set_state(self, state: str) -> None:
        stamp = now()
        self.wire["previousState"] = self.wire["state"]
        self.wire["previousStateTransitionTime"] = self.wire["stateTransitionTime"]
        self.wire["state"] = state
        self.wire["stateTransitionTime"] = stamp
        self.wire["lastModified"] = stamp
        self.wire["eTag"] = etag()


@dataclass
class Task(_WireState):
    job_id: str
    wire: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    container_name: str | None = None
    # set to ask a running task to stop: "terminate", "delete", or "requeue" (its node went away)
    stop_reason: str | None = None
    node_id: str | None = None  # the node it runs on

    @property
    def slots(self) -> int:
        return int(self.wire.get("requiredSlots", 1))


@dataclass
class Job(_WireState):
    wire: dict[str, Any]
    tasks: dict[str, Task] = field(default_factory=dict)
    deleted_at: float = 0.0  # time.monotonic() of the DELETE


# Real Batch showed a job without tasks as "deleting" for about a second after DELETE (.NET
# DeleteJob recording): the emulator keeps it that long at least, shorter to keep tests fast.
JOB_DELETE_SECONDS = 0.3
_NO_LIMIT = "P10675199DT2H48M5.4775807S"  # TimeSpan.MaxValue, Batch's "unlimited"
_UPDATABLE: dict[str, Any] = {  # job properties update (PATCH) and replace (PUT) may set
    "priority": 0,
    "maxParallelTasks": -1,
    "constraints": {"maxWallClockTime": _NO_LIMIT, "maxTaskRetryCount": 0},
    "poolInfo": None,
    "metadata": None,
    "onAllTasksComplete": "noaction",
    "allowTaskPreemption": False,
}


class Account(NodeTasks):
    """Jobs and tasks of one emulated Batch account, with Batch's rules on every change."""

    def __init__(self, base_url: str, clock: Clock) -> None:
        self.base_url = base_url
        self.clock = clock
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        # False: onAllTasksComplete switched to terminatejob after every task completed leaves
        # the job active (the other answer the unverified behaviour allows)
        self.terminate_on_late_switch = True
        self.add_status = dict(casing.ADD_STATUS)  # add-collection result status, by name
        # The reference: terminatejob applies at once (also to a job created without tasks).
        # The Go SDK's TestTask recording shows such a job taking tasks 2 s after creation and
        # staying active with all its tasks completed: switchable (the runner is right either way).
        self.terminate_at_once = True
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)

    # -- pools and nodes ----------------------------------------------------------------------

    def add_pool(self, spec: PoolSpec) -> Pool:
        with self.lock:
            if spec.id.lower() in self.pools:
                raise BatchServiceError(409, "PoolExists", "The specified pool already exists.")
            pool = Pool(spec, self.clock, self.base_url, self)
            self.pools[spec.id.lower()] = pool
            self.changed.notify_all()
            return pool

    def pool(self, pool_id: str) -> Pool:
        found = self.pools.get(pool_id.lower())
        if found is None:
            raise not_found("PoolNotFound", "pool")
        return found

    def tick_pools(self) -> None:
        """Let every pool act at the clock's time (samples, evaluations, node starts)."""
        with self.lock:
            for pool in self.pools.values():
                pool.tick()
            self.changed.notify_all()

    # -- jobs ---------------------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        found = self.jobs.get(job_id.lower())
        if found is None:
            raise not_found("JobNotFound", "job")
        return found

    def create_job(self, body: Any) -> Job:
        validate_job(body)
        with self.lock:
            if body["id"].lower() in self.jobs:
                raise BatchServiceError(409, "JobExists", "The specified job already exists.")
            self.pool(body["poolInfo"]["poolId"])
            stamp = now()
            wire = {
                "priority": 0,
                "maxParallelTasks": -1,
                "usesTaskDependencies": False,
                "allowTaskPreemption": False,
                "onAllTasksComplete": "noaction",
                "onTaskFailure": "noaction",
                **body,
                "constraints": {
                    "maxWallClockTime": _NO_LIMIT,
                    "maxTaskRetryCount": 0,
                    **(body.get("constraints") or {}),
                },
                "url": f"{self.base_url}/jobs/{body['id']}",
                "eTag": etag(),
                "creationTime": stamp,
                "lastModified": stamp,
                "state": "active",
                "stateTransitionTime": stamp,
                "executionInfo": {"startTime": stamp, "poolId": body["poolInfo"]["poolId"]},
            }
            job = Job(wire)
            self.jobs[job.id.lower()] = job
            self._check_all_complete(job)
            self.changed.notify_all()
            return job

    def update_job(self, job_id: str, patch: Any, *, replace: bool = False) -> None:
        validate_job_patch(patch)
        with self.lock:
            job = self.job(job_id)
            if job.state in ("completed", "deleting", "terminating"):
                raise job_not_active(job)
            new_pool = (patch.get("poolInfo") or {}).get("poolId")
            if new_pool is not None:
                self.pool(new_pool)
            for key, default in _UPDATABLE.items():
                if key == "constraints" and key in patch:  # unset limits keep Batch's defaults
                    job.wire[key] = {**default, **(patch[key] or {})}
                elif key in patch:
                    job.wire[key] = patch[key]
                elif replace and key != "poolInfo":  # PUT: what is left out goes to its default
                    job.wire[key] = default
                    if default is None:
                        del job.wire[key]
            job.wire["lastModified"] = now()
            job.wire["eTag"] = etag()
            # Switching to terminatejob once every task has completed: whether Batch then ends
            # the job is unverified (azure-batch-samples#319 saw jobs left active)
            late_switch = bool(job.tasks) and all(
                t.state == "completed" for t in job.tasks.values()
            )
            if self.terminate_on_late_switch or not late_switch:
                self._check_all_complete(job)
            self.changed.notify_all()

    def terminate_job(self, job_id: str, reason: str | None) -> None:
        with self.lock:
            job = self.job(job_id)
            if job.state == "completed":
                raise BatchServiceError(
                    409, "JobCompleted", "The specified job is already in a completed state."
                )
            if job.state == "deleting":
                raise job_not_active(job)
            self._begin_termination(job, reason or "UserTerminate")

    def _begin_termination(self, job: Job, reason: str) -> None:
        if job.state != "active":
            return
        job.set_state("terminating")
        job.wire["executionInfo"]["terminateReason"] = reason
        for task in job.tasks.values():
            if task.state in ("running", "preparing"):
                task.stop_reason = "terminate"
        self.changed.notify_all()

    def delete_job(self, job_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            if job.state != "deleting":
                job.set_state("deleting")
                job.deleted_at = time.monotonic()
                for task in job.tasks.values():
                    if task.state in ("running", "preparing"):
                        task.stop_reason = "delete"
            self.changed.notify_all()

    def settle_jobs(self) -> None:
        """Finish terminations and deletions once no task of the job is running."""
        with self.lock:
            for key, job in list(self.jobs.items()):
                running = any(t.state in ("running", "preparing") for t in job.tasks.values())
                if running:
                    continue
                if job.state == "terminating":
                    job.set_state("completed")
                    job.wire["executionInfo"]["endTime"] = now()
                elif job.state == "deleting" and (
                    time.monotonic() - job.deleted_at >= JOB_DELETE_SECONDS
                ):
                    del self.jobs[key]

    def _check_all_complete(self, job: Job) -> None:
        if not self.terminate_at_once:
            return
        if (
            job.state != "active"
            or job.wire.get("onAllTasksComplete", "").lower() != "terminatejob"
        ):
            return
        if all(task.state == "completed" for task in job.tasks.values()):
            self._begin_termination(job, "AllTasksCompleted")  # Go SDK TestJob recording

    # -- tasks --------------------------------------------------------------------------------

    def task(self, job_id: str, task_id: str) -> Task:
        job = self.job(job_id)
        found = job.tasks.get(task_id.lower())
        if found is None:
            raise not_found("TaskNotFound", "task")
        return found

    def add_task(self, job_id: str, body: Any) -> Task:
        with self.lock:
            job = self.job(job_id)
            if job.state != "active":
                raise job_not_active(job)
            pool = self.pool(job.wire["poolInfo"]["poolId"])
            validate_task(
                body,
                uses_task_dependencies=bool(job.wire.get("usesTaskDependencies")),
                max_slots=pool.slots,
            )
            if body["id"].lower() in job.tasks:
                raise BatchServiceError(409, "TaskExists", "The specified task already exists.")
            stamp = now()
            constraints = {
                "maxWallClockTime": _NO_LIMIT,
                "retentionTime": "P7D",
                "maxTaskRetryCount": job.wire["constraints"].get("maxTaskRetryCount", 0),
            }
            constraints.update(body.get("constraints") or {})
            wire = {
                "requiredSlots": 1,
                # what Batch shows for a task that did not set them (.NET TaskReactive and JS
                # task_operations recordings)
                "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
                **body,
                "constraints": constraints,
                "url": f"{job.wire['url']}/tasks/{body['id']}",
                "eTag": etag(),
                "creationTime": stamp,
                "lastModified": stamp,
                "state": "active",
                "stateTransitionTime": stamp,
                "executionInfo": {"retryCount": 0, "requeueCount": 0},
            }
            if "containerSettings" in wire:
                wire["containerSettings"] = {
                    "workingDirectory": "taskWorkingDirectory",
                    **wire["containerSettings"],
                }
            task = Task(job.id, wire)
            job.tasks[task.id.lower()] = task
            self.changed.notify_all()
            return task

    def add_collection(self, job_id: str, bodies: list[Any]) -> list[dict[str, Any]]:
        with self.lock:
            job = self.job(job_id)  # unknown or inactive job: the whole request fails
            if job.state != "active":
                raise job_not_active(job)
            results = []
            for body in bodies:
                task_id = body.get("id") if isinstance(body, dict) else None
                try:
                    task = self.add_task(job_id, body)
                except BatchServiceError as error:
                    results.append(
                        {
                            "status": self.add_status["clienterror"],
                            "taskId": task_id,
                            "error": error.result_error(),
                        }
                    )
                else:
                    results.append(
                        {
                            "status": self.add_status["success"],
                            "taskId": task.id,
                            "eTag": task.wire["eTag"],
                            "lastModified": task.wire["lastModified"],
                            "location": task.wire["url"],
                        }
                    )
            return results

    def terminate_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            task = self.task(job_id, task_id)
            if task.state == "completed":
                raise BatchServiceError(
                    409, "TaskCompleted", "The specified task is already in a completed state."
                )
            if task.state in ("running", "preparing"):
                task.stop_reason = "terminate"
            else:
                self.complete(task, exit_code=None, failure=task_ended())
            self.changed.notify_all()

    def delete_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            task = self.task(job_id, task_id)
            if task.state in ("running", "preparing"):
                task.stop_reason = "delete"
            del job.tasks[task.id.lower()]
            self._check_all_complete(job)
            self.changed.notify_all()

    def complete(
        self, task: Task, *, exit_code: int | None, failure: dict[str, Any] | None
    ) -> None:
        """Move a task to completed with its result, then apply the job's all-complete rule."""
        with self.lock:
            info = task.wire["executionInfo"]
            info["endTime"] = now()
            info.setdefault("startTime", info["endTime"])
            if exit_code is not None:
                info["exitCode"] = exit_code
            info["result"] = "failure" if failure else "success"
            if failure:
                info["failureInfo"] = failure
            task.set_state("completed")
            job = self.jobs.get(task.job_id.lower())
            if job is not None:
                self._check_all_complete(job)
            self.changed.notify_all()

    def task_counts(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.job(job_id)
            counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
            slots = dict(counts)
            for task in job.tasks.values():
                state = "running" if task.state == "preparing" else task.state
                counts[state] += 1
                slots[state] += task.slots
                if state == "completed":
                    outcome = (
                        "succeeded"
                        if task.wire["executionInfo"].get("result") == "success"
                        else "failed"
                    )
                    counts[outcome] += 1
                    slots[outcome] += task.slots
            return {"taskCounts": counts, "taskSlotCounts": slots}


def task_ended() -> dict[str, Any]:
    return {
        "category": casing.USER_ERROR,
        "code": "TaskEnded",
        "message": "Task Was Ended by User Request",
    }


def job_not_active(job: Job) -> BatchServiceError:
    if job.state == "completed":
        return BatchServiceError(
            409, "JobCompleted", "The specified job is already in a completed state."
        )
    if job.state == "deleting":
        return BatchServiceError(
            409,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        )
    if job.state == "terminating":
        return BatchServiceError(
            409, "JobBeingTerminated", "The specified job is being terminated."
        )
    return BatchServiceError(409, "JobNotActive", "The specified job is not in active state.")
