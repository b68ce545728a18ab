"""Example SuperBatch worker: counts words in each input file.

The conventions every task follows, whatever the language:

- The current directory is the task's working directory. Inputs (``inputs = "data/*.txt"``
  in the job spec) and shared files are already there, at the relative paths the command
  line names (``{input}``).
- Write results under ``out/`` (relative): the spec's ``outputs = ["out/**"]`` collects them.
  Nothing written anywhere else comes back.
- ``AZ_BATCH_*`` variables say where you are: job and task ids, the task's working
  directory, the node's shared directory. ``superbatch run --local`` sets the same ones.
- stdout and stderr are kept as the task's logs; exit non-zero to fail the task (it is
  retried up to ``retries`` times).
- Do not assume a user: on Batch the task runs with the node's task user id.

Usage: python /app/worker.py FILE... (writes out/<stem>.json per file and out/task.json)
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

BATCH_VARIABLES = (
    "AZ_BATCH_JOB_ID",
    "AZ_BATCH_TASK_ID",
    "AZ_BATCH_TASK_DIR",
    "AZ_BATCH_TASK_WORKING_DIR",
    "AZ_BATCH_NODE_ROOT_DIR",
    "AZ_BATCH_NODE_SHARED_DIR",
)


def task_context() -> dict[str, object]:
    """Who and where this task is: the Batch variables, the user, the working directory."""
    return {
        "batch": {name: os.environ.get(name) for name in BATCH_VARIABLES},
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": os.getcwd(),
    }


def count_words(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return dict(Counter(word for line in handle for word in line.split()))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    out = Path("out")
    out.mkdir(exist_ok=True)
    context = task_context()
    print(f"task {os.environ.get('AZ_BATCH_TASK_ID')} as uid {os.getuid()}", file=sys.stderr)
    for name in argv:
        source = Path(name)
        if not source.is_file():
            print(f"input {name} not found in {os.getcwd()}", file=sys.stderr)
            return 2
        counts = count_words(source)
        (out / f"{source.stem}.json").write_text(json.dumps(counts, sort_keys=True) + "\n")
        print(f"{name}: {sum(counts.values())} words")
    (out / "task.json").write_text(json.dumps({**context, "inputs": argv}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
