"""A 20,000-task job end to end on the emulator through the real CLI: submit, run, monitor,
download. Prints the runner's peak memory and its CPU seconds per 1,000 tasks.

The emulator and Azurite live in this process (Azurite and the tasks are its children); the
runner is ``superbatch run`` in a child process that writes its own
``getrusage(RUSAGE_SELF)`` (peak RSS, user + system CPU) when it exits, so the figures are
the runner's alone. ``E2E_TASKS`` shrinks the job for a quick run; ``E2E_TRACEMALLOC=FILE``
writes the runner's top allocations at its peak to FILE (bench/peak_trace.py; slower);
``E2E_RSS=FILE`` its RSS over time with the runner's line at each step (untraced).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench._harness import bench_stack, timed

# `python -m superbatch ARGS...` that writes its own resource usage to a file as it exits.
RUNNER = """
import atexit, json, os, resource, sys
out = sys.argv.pop(1)
if os.environ.get("E2E_TRACEMALLOC"):
    sys.path.insert(0, os.environ["E2E_REPO"])
    from bench.peak_trace import start
    start(os.environ["E2E_TRACEMALLOC"])
if os.environ.get("E2E_RSS"):
    sys.path.insert(0, os.environ["E2E_REPO"])
    from bench.peak_trace import start_rss
    start_rss(os.environ["E2E_RSS"])
def record():
    u = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as f:
        json.dump({"maxrss_kb": u.ru_maxrss, "cpu": u.ru_utime + u.ru_stime}, f)
atexit.register(record)
sys.argv[0] = "superbatch"
from superbatch.cli import main
main()
"""


def main() -> int:
    count = int(os.environ.get("E2E_TASKS", "20000"))
    with bench_stack(hold=False, slots=64) as stack:
        spec_dir = stack.workdir / "spec"
        spec_dir.mkdir()
        (spec_dir / "rows.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(count)))
        (spec_dir / "job.toml").write_text(
            'name = "e2e"\nimage = "docker.io/library/busybox:1.36"\ntasks = "rows.csv"\n'
            'command = "echo {n} > n.txt"\noutputs = ["n.txt"]\n'
        )
        usage_file = stack.workdir / "runner-usage.json"
        args = [sys.executable, "-c", RUNNER, str(usage_file), "run", str(spec_dir / "job.toml")]
        args += ["--outputs", str(stack.outputs_file), "--json"]
        env = {**os.environ, "E2E_REPO": str(Path(__file__).resolve().parent.parent)}
        seconds, done = timed(
            lambda: subprocess.run(
                args, cwd=stack.workdir, env=env, capture_output=True, text=True, check=False
            )
        )
        usage = json.loads(usage_file.read_text())
    if done.returncode != 0:
        print(done.stderr[-3000:])
        return 1
    summary = json.loads(done.stdout)
    cpu = usage["cpu"]
    print(f"{count} tasks end to end (submit, run, monitor, download): {seconds:7.1f} s wall")
    print(f"  succeeded: {summary['counts']['succeeded']}")
    print(f"  runner peak RSS: {usage['maxrss_kb'] / 1024:7.1f} MB")
    print(f"  runner CPU: {cpu:7.1f} s total, {cpu * 1000 / count:6.2f} s per 1,000 tasks")
    return 0 if summary["counts"]["succeeded"] == count else 1


if __name__ == "__main__":
    sys.exit(main())
