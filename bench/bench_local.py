"""1,000 no-op tasks: `superbatch run --local --parallel 2 --no-container` vs `xargs -P 2`.

Both run the same 1,000 commands through `/bin/sh -c`; superbatch also lays out a Batch-like
node, records state, collects logs, mirrors results and writes the manifest. Prints the
times and the ratio (target <= 1.5x), each the best of a few interleaved rounds measured in
this run, after a warm-up.

    uv run python bench/bench_local.py [--tasks N] [--rounds R] [--dir DIR ...]

By default it runs twice: in /dev/shm (tmpfs: the runner itself) and in the temp dir (a
disk). Per task superbatch creates eight files and folders that xargs does not (the task
dir, wd/, stdout.txt, stderr.txt on the node; results/<job>/<task>/, _logs/ and the two logs
in results). Where the file system is slow to create them that cost is the runner's floor,
whatever it does, so the bench also times the same creations alone, in one Python loop, and
prints them beside the ratio.

Nothing is deleted until the end: every round is a new job (--new) in new folders. On ext4,
allocating an inode skips the ones freed in the last few seconds (``recently_deleted`` in
``find_inode_bit``, seen with perf here), so deleting the last round's 8,000 entries right
before the next made each creation 5-50x slower and measured that, not the runner.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As a user's machine runs it: Python caches bytecode (some CI images set
# PYTHONDONTWRITEBYTECODE, which makes every start compile every module again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TARGET = 1.5


def _time(argv: list[str], *, cwd: Path, stdin: bytes | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, input=stdin, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def _layout_alone(root: Path, tasks: int) -> float:
    """The eight creations per task that superbatch's layout makes, and nothing else."""
    start = time.perf_counter()
    node, results = f"{root}/node", f"{root}/results"
    os.makedirs(node)
    os.makedirs(results)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(tasks):
        for top, sub in ((node, "wd"), (results, "_logs")):
            os.mkdir(f"{top}/{i}")
            os.mkdir(f"{top}/{i}/{sub}")
            logs = f"{top}/{i}" if sub == "wd" else f"{top}/{i}/{sub}"
            os.close(os.open(f"{logs}/stdout.txt", flags, 0o666))
            os.close(os.open(f"{logs}/stderr.txt", flags, 0o666))
    return time.perf_counter() - start


def measure(where: str | None, tasks: int, rounds: int) -> float:
    work = Path(tempfile.mkdtemp(prefix="superbatch-bench-", dir=where))
    try:
        (work / "params.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(tasks)))
        spec = 'name = "noop"\ntasks = "params.csv"\ncommand = "true {n}"\n'
        (work / "job.toml").write_text(spec)
        numbers = "".join(f"{i}\n" for i in range(tasks)).encode()
        xargs = ["xargs", "-P", "2", "-I{}", "/bin/sh", "-c", "true {}"]
        run = [sys.executable, "-m", "superbatch", "run", "job.toml", "--local"]
        run += ["--parallel", "2", "--no-container", "--new"]
        base, ours, layout = [], [], []
        for round_ in range(rounds + 1):  # round 0 warms caches and is not counted
            if round_ > 0:
                base.append(_time(xargs, cwd=work, stdin=numbers))
            elapsed = _time(run, cwd=work)
            if round_ > 0:
                ours.append(elapsed)
                layout.append(_layout_alone(work / f"layout-{round_}", tasks))
        ratio = min(ours) / min(base)
        verdict = "OK" if ratio <= TARGET else "OVER"
        print(f"{tasks} no-op tasks, --parallel 2, in {work.parent} (best of {rounds})")
        print(f"  xargs -P 2:             {min(base):.2f} s")
        print(f"  superbatch run --local: {min(ours):.2f} s")
        print(f"  ratio: {ratio:.2f}x (target <= {TARGET}x) {verdict}")
        print(f"  the layout's {8 * tasks} creations alone, no processes: {min(layout):.2f} s")
        return ratio
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--dir",
        action="append",
        help="where to run (repeatable; default: /dev/shm if present, then the temp dir)",
    )
    args = parser.parse_args()
    places = args.dir or ([] if not os.path.isdir("/dev/shm") else ["/dev/shm"]) + [None]
    for where in places:
        measure(where, args.tasks, args.rounds)


if __name__ == "__main__":
    main()
