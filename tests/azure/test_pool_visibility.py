"""What a waiting job shows about its pool, through the real CLI against the emulated pool
(its own clock, moved forward by the test: minutes of autoscale and node start in seconds).

- a cold pool driven by the stack's own formula: the node count rising, then the job done;
- Spot core quota 0: "cannot get nodes" within one poll after the pool reports it, then
  `run` gives up with exit 7 once the job has been stuck for 10 minutes (service clock);
  `status` says the same, and `wait` on a job stuck that long gives up at its first read;
- Spot preemption: every task still ends with exactly one result.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.autoscale import autoscale_formula

from superbatch.azure.pool import POOL_FIELDS
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import spot_pool_without_quota
from tests.emulator.pools import PoolSpec
from tests.runner.conftest import cli_env, superbatch, write
from tests.support.waiting import until

SPEC = """\
    name = "{name}"
    image = "docker.io/library/busybox:1.36"
    tasks = "rows.csv"
    command = "mkdir -p out && echo {{n}} > out/{{n}}.txt && sleep {sleep}"
    outputs = ["out/*.txt"]
    """


def _project(
    root: Path, name: str, tasks: int, sleep: float = 0, until: Path | None = None
) -> None:
    """``until``: each task then also waits for that file (the emulator runs a container
    pool's tasks on the host), so a test can act while they run, however slow the machine."""
    rows = "\n".join(["n", *(str(i) for i in range(tasks))]) + "\n"
    spec = SPEC.format(name=name, sleep=sleep)
    if until is not None:
        wait = f" && while [ ! -e {until} ]; do sleep 0.05; done"
        spec = spec.replace(f'sleep {sleep}"', f'sleep {sleep}{wait}"')
        assert wait in spec
    write(root, {"rows.csv": rows, "job.toml": spec})


class Background:
    """`superbatch ARGS` running while the test moves the emulator's clock."""

    def __init__(self, root: Path, *args: str) -> None:
        self.err_path, self.out_path = root / "stderr.txt", root / "stdout.txt"
        with self.err_path.open("w") as err, self.out_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "superbatch", *args],
                cwd=root,
                env=cli_env({"SUPERBATCH_PROGRESS_EVERY": "3600"}),
                stdout=out,
                stderr=err,
            )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def drive(
        self,
        stack: EmulatedStack,
        *,
        step: float,
        until: Callable[[], bool] | None = None,
        limit: float = 120,
    ) -> None:
        """Advance the clock ``step`` seconds at a time until ``until()`` or the end."""
        deadline = time.monotonic() + limit
        while self.proc.poll() is None and not (until is not None and until()):
            assert time.monotonic() < deadline, f"timed out; stderr so far:\n{self.stderr}"
            stack.emulator.clock.advance(step)
            time.sleep(0.2)

    def finish(self, limit: float = 120) -> int:
        try:
            return self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def json(self) -> Any:
        return json.loads(self.out_path.read_text())


def _pool_counts(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"pool superbatch-pool (\d+) -> (\d+)", text)]


def test_a_first_job_on_a_cold_pool_shows_the_node_count_rising(
    tmp_path: Path, pool_stack: Any
) -> None:
    spec = PoolSpec(
        formula=autoscale_formula(max_nodes=2, task_slots_per_node=1, spot=False),
        slots=1,
        interval_seconds=300,
        node_start_seconds=180,
    )
    stack = pool_stack(spec)
    stack.emulator.clock.advance(0)  # the pool exists, evaluated once: 0 nodes
    _project(tmp_path, "cold", tasks=4)

    run = Background(tmp_path, "run", "job.toml", "--outputs", str(stack.outputs_file))
    # The clock stands still until the job's monitor has read the pool once: driven from
    # the start, a slow start of the command (a loaded machine) let the pool's evaluation
    # (300 s = 12 s here) ask for the nodes before that first read, which then was not cold.
    polls = ("get_pool", POOL_FIELDS)
    until(lambda: stack.emulator.selected[polls] >= 1 or run.proc.poll() is not None)
    run.drive(stack, step=5)  # 180 s of node start = 7 s here: polls see nodes starting
    code = run.finish()

    assert code == 0, run.stderr
    counts = _pool_counts(run.stderr)
    assert counts[0] == (0, 0), run.stderr  # cold: nothing asked for yet
    assert "next autoscale evaluation in about" in run.stderr
    assert counts[-1] == (2, 2), run.stderr  # the formula asked for two nodes
    currents = [current for current, _ in counts]
    assert currents == sorted(currents) and currents[-1] == 2, run.stderr
    assert re.search(
        r"waiting for nodes: pool superbatch-pool 2 -> 2 \(.*\): 2 starting", run.stderr
    )


def test_spot_quota_zero_says_cannot_get_nodes_then_gives_up_with_exit_7(
    tmp_path: Path, pool_stack: Any
) -> None:
    stack = pool_stack(spot_pool_without_quota())
    emulator = stack.emulator
    emulator.clock.advance(0)
    _project(tmp_path, "nospot", tasks=2)
    args = ("--outputs", str(stack.outputs_file))

    run = Background(tmp_path, "run", "job.toml", *args, "--json")
    run.drive(stack, step=10, until=lambda: bool(emulator.pool_wire().get("resizeErrors")))
    polls = ("get_pool", POOL_FIELDS)  # the monitor's reads (the cold-start re-arm reads too)
    reads_when_reported = emulator.selected[polls]
    deadline = time.monotonic() + 60
    while "cannot get nodes" not in run.stderr:  # the clock stands still meanwhile
        assert time.monotonic() < deadline and run.proc.poll() is None, run.stderr
        time.sleep(0.05)
    assert emulator.selected[polls] <= reads_when_reported + 1  # within one poll
    line = next(line for line in run.stderr.splitlines() if "cannot get nodes" in line)
    assert "AccountLowPriorityCoreQuotaReached" in line
    assert "Spot" in line and "spot false" in line  # what to do: quota, or dedicated nodes

    run.drive(stack, step=30)  # ten minutes stuck on the service's clock: it gives up
    assert run.finish() == 7, run.stderr
    assert "cannot progress" in run.stderr and "superbatch wait" in run.stderr
    answer = run.json()
    assert answer["pool_state"]["stuck"] is True and "cannot get nodes" in answer["nodes"]
    job_id = answer["job_id"]

    status = superbatch("status", job_id, *args, "--json", cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert status.json()["pool_state"]["problem"].startswith("cannot get nodes")
    wait = superbatch("wait", job_id, *args, cwd=tmp_path, timeout=60)
    assert wait.code == 7, wait.stderr  # stuck long enough already: no second grace period
    assert "cannot get nodes" in wait.stderr


def test_preemption_every_task_ends_with_exactly_one_result(
    tmp_path: Path, pool_stack: Any
) -> None:
    spec = PoolSpec(slots=2, dedicated=1, low_priority=1)
    stack = pool_stack(spec)
    emulator = stack.emulator
    release = tmp_path / "release"
    # the tasks run until the test releases them: the preemption lands while a Spot node
    # runs one (with a 1 s task, a slow poll here could miss that window: nothing requeued)
    _project(tmp_path, "preempted", tasks=4, until=release)

    run = Background(tmp_path, "run", "job.toml", "--outputs", str(stack.outputs_file), "--json")

    def spot_busy() -> bool:
        return any(
            n["state"] == "running" and not n.get("isDedicated", True) for n in emulator.nodes()
        )

    run.drive(stack, step=0, until=spot_busy, limit=60)
    with emulator.account.lock:
        assert emulator.pool().preempt()
    release.touch()
    run.drive(stack, step=5)
    assert run.finish() == 0, run.stderr

    answer = run.json()
    assert answer["counts"] == {"queued": 0, "running": 0, "succeeded": 4, "failed": 0}
    job_id = answer["job_id"]
    requeued = [t.get("executionInfo", {}).get("requeueCount", 0) for t in emulator.tasks(job_id)]
    assert sum(requeued) >= 1  # a task really went back to the queue and ran again
    manifest = json.loads((tmp_path / "results" / job_id / "manifest.json").read_text())
    assert sorted(t["task"] for t in manifest["tasks"]) == ["0", "1", "2", "3"]
    for task in manifest["tasks"]:
        outputs = [f["path"] for f in task["files"] if not f["path"].startswith("_logs/")]
        assert outputs == [f"out/{task['task']}.txt"] and task["state"] == "succeeded"
