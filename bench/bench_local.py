"""1,000 no-op tasks: `superbatch run --local --parallel 2 --no-container` vs `xargs -P 2`.

Both run the same 1,000 commands through `/bin/sh -c`; superbatch also stages, collects logs,
records state, mirrors results and writes the manifest. Prints the times and the ratio
(target <= 1.5x), each the best of a few rounds measured in this run, after a warm-up.

    uv run python bench/bench_local.py [--tasks N] [--rounds R] [--dir DIR]

Each task costs superbatch a few file-system metadata operations (task dir, wd/, stdout.txt,
stderr.txt, and results/<job>/<task>/ with its _logs/): where those are slow (some VM disks
take 0.1-0.4 ms per mkdir) that dominates; ``--dir /dev/shm`` measures the runner alone.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dir", help="where to run (default: the temp dir); e.g. /dev/shm to leave the disk out"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="superbatch-bench-", dir=args.dir))
    try:
        (work / "params.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(args.tasks)))
        (work / "job.toml").write_text(
            'name = "noop"\ntasks = "params.csv"\ncommand = "true {n}"\n'
        )
        numbers = "".join(f"{i}\n" for i in range(args.tasks)).encode()
        xargs = ["xargs", "-P", "2", "-I{}", "/bin/sh", "-c", "true {}"]
        run = [sys.executable, "-m", "superbatch", "run", "job.toml", "--local"]
        run += ["--parallel", "2", "--no-container", "--new"]
        base, ours = [], []
        for round_ in range(args.rounds + 1):  # round 0 warms caches and is not counted
            if round_ == 0:
                _time(run, cwd=work)
                shutil.rmtree(work / ".superbatch")
                shutil.rmtree(work / "results")
                continue
            base.append(_time(xargs, cwd=work, stdin=numbers))
            ours.append(_time(run, cwd=work))
            shutil.rmtree(work / ".superbatch")
            shutil.rmtree(work / "results")
        ratio = min(ours) / min(base)
        print(f"{args.tasks} no-op tasks, --parallel 2, in {work.parent} (best of {args.rounds})")
        print(f"  xargs -P 2:            {min(base):.2f} s")
        print(f"  superbatch run --local: {min(ours):.2f} s")
        print(f"  ratio: {ratio:.2f}x (target <= {TARGET}x) {'OK' if ratio <= TARGET else 'OVER'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
