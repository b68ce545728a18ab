"""A Batch-like compute node on this machine: directory layout, environment, staging.

::

    <root>/shared/                                   AZ_BATCH_NODE_SHARED_DIR
    <root>/workitems/<job>/job-1/<task>/             AZ_BATCH_TASK_DIR
    <root>/workitems/<job>/job-1/<task>/stdout.txt
    <root>/workitems/<job>/job-1/<task>/stderr.txt
    <root>/workitems/<job>/job-1/<task>/wd/          AZ_BATCH_TASK_WORKING_DIR

Same names and variables as an Azure Batch node, so a command that works here works there.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from superbatch.model import InputFile

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


def prepare_task_dir(task_dir: Path, files: Iterable[InputFile]) -> Path:
    """A fresh task dir with its files staged into ``wd/``; returns the working dir.

    Anything left by an earlier attempt (or an interrupted run) is removed first, so every
    attempt starts from the same state.
    """
    if task_dir.exists():
        shutil.rmtree(task_dir)
    working_dir = task_dir / "wd"
    working_dir.mkdir(parents=True)
    for item in files:
        target = working_dir / item.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.source, target)
    return working_dir


def stage_tree(source: Path, dest: Path, *, skip_top: str) -> None:
    """Copy every file under ``source`` to ``dest`` except the top-level dir ``skip_top``."""
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if relative.parts[0] == skip_top or not path.is_file():
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
