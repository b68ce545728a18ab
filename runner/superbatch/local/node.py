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

import errno
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from superbatch.model import InputFile
from superbatch.validate import LOGS_PREFIX

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

    def tasks_dir(self, job_id: str) -> str:
        """The folder of every task dir of ``job_id``, as a string (per-task paths are
        built from it with f-strings on the hot path)."""
        return str(self.job_dir(job_id) / "job-1")

    def task_dir(self, job_id: str, task_id: str) -> Path:
        return Path(self.tasks_dir(job_id)) / task_id

    def job_env(self, job_id: str) -> dict[str, str]:
        """The ``AZ_BATCH_*`` variables Batch sets for every task of ``job_id``."""
        return {
            "AZ_BATCH_ACCOUNT_NAME": LOCAL_ACCOUNT,
            "AZ_BATCH_ACCOUNT_URL": f"local://{LOCAL_ACCOUNT}",
            "AZ_BATCH_POOL_ID": LOCAL_POOL,
            "AZ_BATCH_NODE_ID": LOCAL_NODE,
            "AZ_BATCH_JOB_ID": job_id,
            "AZ_BATCH_NODE_ROOT_DIR": str(self.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.shared_dir),
        }


def task_env(task_id: str, task_dir: str) -> dict[str, str]:
    """The ``AZ_BATCH_*`` variables that differ from task to task (with
    :meth:`NodeLayout.job_env`, all that Batch sets)."""
    return {
        "AZ_BATCH_TASK_ID": task_id,
        "AZ_BATCH_TASK_DIR": task_dir,
        "AZ_BATCH_TASK_WORKING_DIR": f"{task_dir}/wd",
    }


def collected_path(task_dir: str, relative: str) -> str:
    """Where a collected file lives on the node: logs in the task dir, outputs in ``wd/``.

    ``relative`` is its path in ``results/<job>/<task>/`` (``_logs/stdout.txt``,
    ``out/a.json``). A finished task's dir is kept until the task runs again or the job is
    cleaned, so the node itself is the local backend's store of results.
    """
    if relative.startswith(LOGS_PREFIX):
        return f"{task_dir}/{relative[len(LOGS_PREFIX) :]}"
    return f"{task_dir}/wd/{relative}"


def prepare_task_dir(task_dir: str, files: Iterable[InputFile]) -> str:
    """A fresh task dir with its files staged into ``wd/``; returns the working dir.

    Anything left by an earlier attempt (or an interrupted run) is removed first, so every
    attempt starts from the same state. Paths are strings: this runs once per attempt, and
    a :class:`Path` costs more to build than the system call it is for.
    """
    working_dir = f"{task_dir}/wd"
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
        target = f"{working_dir}/{item.dest}"
        if "/" in item.dest:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        stage_file(item.source, target)
    return working_dir


def copy_files(pairs: Iterable[tuple[str, Path]]) -> None:
    for source, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage_file(source, target)


# FICLONE (linux/fs.h): the target shares the source's blocks copy-on-write.
_FICLONE = 0x40049409
_clone_works = True  # set False after a file system says it cannot clone


def stage_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Put a copy of ``source`` at ``target`` that the task may change freely.

    A reflink (copy-on-write clone: btrfs, XFS, bcachefs, ...) costs no disk until a
    task writes to it; elsewhere (ext4, tmpfs) the file is copied. Never a hard link: a
    link is the user's file itself, so a task's ``>>`` or ``sed -i``-style rewrite in place
    would change the original, and making the link read-only would make the original
    read-only too (the mode belongs to the shared inode).
    """
    global _clone_works
    if _clone_works:
        import fcntl

        with open(source, "rb") as src, open(target, "wb") as dst:
            try:
                fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
                return
            except OSError as exc:
                if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.ENOSYS):
                    _clone_works = False  # this file system cannot clone: stop asking
                elif exc.errno != errno.EXDEV:  # another file system: copy this one
                    raise
    shutil.copyfile(source, target)
