"""Peak memory of a runner process submitting 100,000 tasks (target < 300 MB).

The emulator (hold mode) lives in this process; the runner is a child process building
the resolved job and calling ``AzureBatchBackend.submit``, so its peak RSS is the runner's
alone (it reports its own ``getrusage(RUSAGE_SELF).ru_maxrss``).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from bench._harness import bench_stack, ratio_line, timed

TASKS = 100_000
LIMIT_MB = 300


def child(outputs_file: str, count: int) -> int:
    from bench.bench_submit import bench_job

    from superbatch.azure.backend import AzureBatchBackend

    backend = AzureBatchBackend.from_outputs_file(Path(outputs_file))
    backend.submit(bench_job("memory", count))
    report = backend.last_submit
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"added={report.added if report else 0} peak_kb={peak_kb}")
    return 0


def main() -> int:
    with bench_stack(hold=True) as stack:
        seconds, done = timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "bench.bench_memory", "--child", str(stack.outputs_file)],
                capture_output=True,
                text=True,
                check=False,
            )
        )
        if done.returncode != 0:
            print(done.stderr[-3000:])
            return 1
        assert stack.emulator is not None  # bench_stack starts one unless told not to
        stored = len(stack.emulator.tasks("memory"))
    answer = dict(item.split("=") for item in done.stdout.split())
    peak_mb = int(answer["peak_kb"]) / 1024
    print(f"runner submitting {TASKS} tasks: {seconds:6.1f} s, {stored} tasks stored")
    print(
        ratio_line(
            f"runner peak RSS in MB (< {LIMIT_MB})", peak_mb, f"< {LIMIT_MB}", peak_mb < LIMIT_MB
        )
    )
    return 0 if peak_mb < LIMIT_MB and stored == TASKS else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2], TASKS))
    sys.exit(main())
