"""The emulated compute node: schedules tasks into slots and runs them as real processes.

Like a Batch node, a task runs in ``<root>/workitems/<job>/job-1/<task>/wd`` with the
``AZ_BATCH_*`` environment, its command line split (``shlex``) and executed WITHOUT a shell,
stdout/stderr in the task directory. Resource files are downloaded first and output files
uploaded after the process exits, per upload condition. Non-zero exits are retried up to
``maxTaskRetryCount``; ``maxWallClockTime`` kills the process group. Dependencies must have
succeeded. With ``podman_env`` set, tasks with ``containerSettings`` run in their image.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from tests.emulator import casing
from tests.emulator.containers import check_container, podman_argv
from tests.emulator.storage import NodeFileError, StorageAccess
from tests.emulator.store import Account, Job, Task, now, task_ended
from tests.emulator.validation import parse_duration

FAILURE_EXIT = {
    "category": casing.USER_ERROR,
    "code": "FailureExitCode",
    "message": "The task exited with an exit code representing a failure",
    "details": [
        {"name": "Message", "value": "The task exited with an exit code representing a failure"}
    ],
}
WALL_CLOCK = {
    "category": casing.USER_ERROR,
    "code": "MaxWallClockTimeExpiry",
    "message": "The task ran longer than the maximum time allowed by its constraints",
}


class Node:
    def __init__(
        self,
        account: Account,
        root: Path,
        storage: StorageAccess,
        account_url: str,
        account_name: str,
        *,
        podman_env: dict[str, str] | None = None,
    ) -> None:
        self.account = account
        self.root = root
        self.storage = storage
        self.account_url = account_url
        self.account_name = account_name
        self.podman_env = podman_env
        self.hold = False
        self.errors: list[str] = []  # tracebacks of emulator bugs while running tasks
        self._stopping = False
        self._workers: dict[int, threading.Thread] = {}
        self._scheduler = threading.Thread(target=self._schedule, daemon=True, name="batch-node")
        (root / "shared").mkdir(parents=True, exist_ok=True)
        (root / "startup").mkdir(parents=True, exist_ok=True)

    def task_dir(self, job_id: str, task_id: str) -> Path:
        return self.root / "workitems" / job_id / "job-1" / task_id

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        with self.account.lock:
            self._stopping = True
            for job in self.account.jobs.values():
                for task in job.tasks.values():
                    if task.state == "running":
                        task.stop_reason = "delete"
            self.account.changed.notify_all()
        self._scheduler.join(timeout=10)
        for worker in list(self._workers.values()):
            worker.join(timeout=10)

    def idle(self) -> bool:
        """No task running, and none that could start now (a task waiting for a node that its
        pool has not got does not count: only the clock or the formula can change that)."""
        with self.account.lock:
            for job in self.account.jobs.values():
                if job.state in ("terminating", "deleting"):
                    return False
                pool = self.account.pools.get(job.wire["poolInfo"]["poolId"].lower())
                has_nodes = pool is not None and any(n.schedulable for n in pool.nodes)
                for task in job.tasks.values():
                    if task.state == "active" and not has_nodes:
                        continue
                    if task.state == "running":
                        return False
                    if not self.hold and task.state == "active" and self._runnable(job, task):
                        return False
            return True

    # -- scheduling -----------------------------------------------------------------------------

    def _schedule(self) -> None:
        with self.account.changed:
            while not self._stopping:
                self.account.settle_jobs()
                self.account.tick_pools()
                if not self.hold:
                    self._start_runnable()
                self.account.changed.wait(0.05)

    def _start_runnable(self) -> None:
        running = self.account.running_tasks()
        used: dict[str, int] = {}
        for task in running:
            if task.node_id is not None:
                used[task.node_id] = used.get(task.node_id, 0) + task.slots
        for job in list(self.account.jobs.values()):
            if job.state != "active":
                continue
            pool = self.account.pools.get(job.wire["poolInfo"]["poolId"].lower())
            if pool is None:
                continue
            nodes = [n for n in pool.nodes if n.schedulable]
            if not nodes:
                continue
            limit = int(job.wire.get("maxParallelTasks", -1))
            in_job = sum(1 for t in job.tasks.values() if t.state == "running")
            for task in list(job.tasks.values()):
                if limit != -1 and in_job >= limit:
                    break
                if task.state != "active" or not self._runnable(job, task):
                    continue
                # Pack: the first node with enough free slots
                node = next(
                    (n for n in nodes if used.get(n.id, 0) + task.slots <= pool.slots), None
                )
                if node is None:
                    continue
                used[node.id] = used.get(node.id, 0) + task.slots
                in_job += 1
                node.tasks_run += 1
                task.node_id = node.id
                self._launch(job, task, pool.identity_resource_ids)

    def _runnable(self, job: Job, task: Task) -> bool:
        return job.state == "active" and self.account.dependencies_met(job, task)

    def _launch(self, job: Job, task: Task, identities: list[str]) -> None:
        stamp = now()
        task.set_state("running")
        info = task.wire["executionInfo"]
        info["startTime"] = stamp
        for key in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(key, None)
        relative = f"workitems/{job.id}/job-1/{task.id}"
        node_id = str(task.node_id)
        node_url = f"{self.account_url}/pools/{job.wire['poolInfo']['poolId']}/nodes/{node_id}"
        task.wire["nodeInfo"] = {
            "affinityId": f"TVM:{node_id}",
            "nodeUrl": node_url,
            "poolId": job.wire["poolInfo"]["poolId"],
            "nodeId": node_id,
            "taskRootDirectory": relative,
            "taskRootDirectoryUrl": f"{node_url}/files/{relative}",
        }
        common_env = list(job.wire.get("commonEnvironmentSettings") or [])
        worker = threading.Thread(
            target=self._run,
            args=(task, common_env, identities),
            daemon=True,
            name=f"task-{task.id}",
        )
        self._workers[id(task)] = worker
        worker.start()

    # -- running one attempt --------------------------------------------------------------------

    def _run(self, task: Task, common_env: list[dict[str, str]], identities: list[str]) -> None:
        try:
            self._attempt(task, common_env, identities)
        except Exception as error:  # an emulator bug: fail the task loudly, keep the node up
            self.errors.append(traceback.format_exc())
            if task.state == "running":
                self.account.complete(
                    task,
                    exit_code=None,
                    failure={
                        "category": casing.SERVER_ERROR,
                        "code": "EmulatorError",
                        "message": repr(error),
                    },
                )
        finally:
            self._workers.pop(id(task), None)

    def _attempt(self, task: Task, common_env: list[dict[str, str]], identities: list[str]) -> None:
        task_dir = self.task_dir(task.job_id, task.id)
        working_dir = task_dir / "wd"
        working_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / "certs").mkdir(exist_ok=True)  # a Linux node's task dir has one (Go SDK)
        container = task.wire.get("containerSettings")
        pool = self.account.pools.get(task.wire["nodeInfo"]["poolId"].lower())
        refused = check_container(pool, container, self.podman_env)
        if refused is not None:
            self.account.complete(task, exit_code=None, failure=refused)
            return
        try:
            for resource in task.wire.get("resourceFiles") or []:
                self.storage.download(resource, working_dir, identities)
        except NodeFileError as error:
            self.account.complete(task, exit_code=None, failure=error.info)
            return
        env = self._environment(task, task_dir, common_env)
        try:
            argv = shlex.split(task.wire["commandLine"])
        except ValueError as error:  # e.g. an unbalanced quote: nothing can be launched
            launch_failure = {
                "category": casing.USER_ERROR,
                "code": "CommandLaunchFailed",
                "message": str(error),
            }
            self.account.complete(task, exit_code=None, failure=launch_failure)
            return
        if not argv and (not container or self.podman_env is None):
            needs_podman = {  # not Batch's: the host cannot run an image's ENTRYPOINT
                "category": casing.SERVER_ERROR,
                "code": "EmulatorNeedsPodman",
                "message": "an empty command line runs the image's ENTRYPOINT: use_podman()",
            }
            self.account.complete(task, exit_code=None, failure=needs_podman)
            return
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        if container and self.podman_env is not None:
            task.container_name = f"batch-{uuid.uuid4().hex[:12]}"
            argv = podman_argv(task.container_name, self.root, container, env, working_dir, argv)
            run_env = {**self.podman_env}
        try:
            with (
                (task_dir / "stdout.txt").open("wb") as out,
                (task_dir / "stderr.txt").open("wb") as err,
            ):
                process = subprocess.Popen(
                    argv,
                    cwd=working_dir,
                    env=run_env,
                    stdout=out,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        except OSError as error:
            self.account.complete(
                task,
                exit_code=None,
                failure={
                    "category": casing.USER_ERROR,
                    "code": "CommandProgramNotFound",
                    "message": f"The specified command program is not found: {error.strerror}",
                },
            )
            return
        task.process = process
        exit_code, failure = self._wait(task, process)
        if task.stop_reason == "requeue":  # its node was preempted or removed: run it again
            self.account.requeue(task)
            return
        if task.stop_reason == "delete":  # job or task deleted: no uploads, nothing to keep
            self.account.complete(task, exit_code=exit_code, failure=failure)
            return
        if failure is None and exit_code != 0 and self._retry(task):
            return
        if failure is None and exit_code != 0:
            failure = FAILURE_EXIT
        failure = (
            self._upload_outputs(
                task, task_dir, working_dir, exit_code == 0 and failure is None, identities
            )
            or failure
        )
        self.account.complete(task, exit_code=exit_code, failure=failure)

    def _wait(
        self, task: Task, process: subprocess.Popen[bytes]
    ) -> tuple[int, dict[str, Any] | None]:
        limit = task.wire["constraints"].get("maxWallClockTime")
        deadline = time.monotonic() + parse_duration("maxWallClockTime", limit) if limit else None
        failure = None
        while True:
            try:
                code = process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if task.stop_reason is not None:
                failure = task_ended()
            elif deadline is not None and time.monotonic() > deadline:
                failure = WALL_CLOCK
            if failure is not None:
                self._kill(task, process)
                code = process.wait()
                break
        return (128 - code if code < 0 else code), failure

    def _kill(self, task: Task, process: subprocess.Popen[bytes]) -> None:
        if task.container_name and self.podman_env is not None:
            # rm -f kills the container and removes it (its --rm dies with the podman client)
            subprocess.run(
                ["podman", "rm", "--force", "--time", "0", task.container_name],
                env=self.podman_env,
                capture_output=True,
                check=False,
            )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def _retry(self, task: Task) -> bool:
        with self.account.lock:
            info = task.wire["executionInfo"]
            limit = int(task.wire["constraints"].get("maxTaskRetryCount", 0))
            if limit != -1 and info["retryCount"] >= limit:
                return False
            info["retryCount"] += 1
            info["lastRetryTime"] = now()
            task.set_state("active")
            self.account.changed.notify_all()
            return True

    def _upload_outputs(
        self, task: Task, task_dir: Path, working_dir: Path, succeeded: bool, identities: list[str]
    ) -> dict[str, Any] | None:
        outputs = task.wire.get("outputFiles") or []
        if not outputs:
            return None
        log: list[str] = []
        errors: list[str] = []
        failure = None
        for output in outputs:
            condition = output["uploadOptions"]["uploadCondition"].lower()
            if (condition == "tasksuccess" and not succeeded) or (
                condition == "taskfailure" and succeeded
            ):
                continue
            try:
                self.storage.upload(output, working_dir, identities, log)
            except NodeFileError as error:
                errors.append(
                    f"{output['filePattern']}: {error.info['code']}: {error.info['message']}"
                )
                failure = failure or error.info
        (task_dir / "fileuploadout.txt").write_text("".join(f"{line}\n" for line in log))
        (task_dir / "fileuploaderr.txt").write_text("".join(f"{line}\n" for line in errors))
        return failure

    def _environment(
        self, task: Task, task_dir: Path, common_env: list[dict[str, str]]
    ) -> dict[str, str]:
        job_id = task.job_id
        env = {
            "AZ_BATCH_ACCOUNT_NAME": self.account_name,
            "AZ_BATCH_ACCOUNT_URL": self.account_url,
            "AZ_BATCH_POOL_ID": task.wire["nodeInfo"]["poolId"],
            "AZ_BATCH_NODE_ID": task.wire["nodeInfo"]["nodeId"],
            "AZ_BATCH_JOB_ID": job_id,
            "AZ_BATCH_TASK_ID": task.id,
            "AZ_BATCH_NODE_ROOT_DIR": str(self.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(self.root / "startup"),
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
        }
        for setting in [*common_env, *(task.wire.get("environmentSettings") or [])]:
            env[setting["name"]] = setting.get("value") or ""
        return env
