"""A Batch-like compute node on this machine: directory layout, environment, staging.

::

    <root>/shared/                                   AZ_BATCH_NODE_SHARED_DIR
    <root>/workitems/<job>/job-1/<task>/             AZ_BATCH_TASK_DIR
    <root>/workitems/<job>/job-1/<task>/stdout.txt
    <root>/workitems/<job>/job-1/<task>/stderr.txt
    <root>/workitems/<job>/job-1/<task>/wd/          AZ_BATCH_TASK_WORKING_DIR

Same names and variables as an Azure Batch node, so a command that works here works there.
A finished task's outputs and logs stay in its task dir: that is the local backend's
equivalent of the outputs container (see :func:`collected_path`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from superbatch.model import InputFile
from superbatch.validate import LOGS_DIR

LOCAL_ACCOUNT = "local"
LOCAL_POOL = "local"
LOCAL_NODE = "local-node"


@dataclass(frozen=True)
class NodeLayout:
    root: Path  # absolute

    @property
    def shared_dir(self) -> Path:
        return self.root / "shared"

    def job_dir(self, job_id: str) -> Path:
        return self.root / "workitems" / job_id

    def task_dir(self, job_id: str, task_id: str) -> Path:
        return self.job_dir(job_id) / "job-1" / task_id

    def batch_env(self, job_id: str, task_id: str) -> dict[str, str]:
        """The ``AZ_BATCH_*`` variables Batch sets for a task."""
        task_dir = self.task_dir(job_id, task_id)
        return {
            "AZ_BATCH_ACCOUNT_NAME": LOCAL_ACCOUNT,
            "AZ_BATCH_ACCOUNT_URL": f"local://{LOCAL_ACCOUNT}",
            "AZ_BATCH_POOL_ID": LOCAL_POOL,
            "AZ_BATCH_NODE_ID": LOCAL_NODE,
            "AZ_BATCH_JOB_ID": job_id,
            "AZ_BATCH_TASK_ID": task_id,
            "AZ_BATCH_NODE_ROOT_DIR": str(self.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.shared_dir),
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
        }


def collected_path(task_dir: Path, relative: str) -> Path:
    """Where a collected file lives on the node: logs in the task dir, outputs in ``wd/``.

    ``relative`` is its path in ``results/<job>/<task>/`` (``_logs/stdout.txt``,
    ``out/a.json``). A finished task's dir is kept until the task runs again or the job is
    cleaned, so the node itself is the local backend's store of results.
    """
    if relative.startswith(f"{LOGS_DIR}/"):
        return task_dir / relative[len(LOGS_DIR) + 1 :]
    return task_dir / "wd" / relative


def prepare_task_dir(task_dir: Path, files: Iterable[InputFile]) -> Path:
    """A fresh task dir with its files staged into ``wd/``; returns the working dir.

    Anything left by an earlier attempt (or an interrupted run) is removed first, so every
    attempt starts from the same state.
    """
    working_dir = task_dir / "wd"
    try:
        os.mkdir(task_dir)  # the usual case: no dir yet, one system call
    except FileExistsError:
        if os.path.isdir(task_dir) and not os.path.islink(task_dir):
            shutil.rmtree(task_dir)
        else:
            os.unlink(task_dir)
        os.mkdir(task_dir)
    except FileNotFoundError:
        os.makedirs(task_dir)
    os.mkdir(working_dir)
    for item in files:
        target = working_dir / item.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.source, target)
    return working_dir


def copy_files(pairs: Iterable[tuple[Path, Path]]) -> None:
    for source, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
