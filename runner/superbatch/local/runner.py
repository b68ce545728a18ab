"""The background runner of a local job: what ``run --detach`` and ``wait`` start.

A runner is ``python -m superbatch.local.runner JOB --home DIR [...]`` in its own session
(no terminal: Ctrl-C in the shell that started it, or closing that shell, never reaches
it), with stdout and stderr in ``<home>/jobs/<job>/runner.log``. It holds the job's run
lock while it runs the tasks, so every other command follows it; ``cancel`` stops it with
SIGTERM, which kills its tasks' process groups and containers like Ctrl-C does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch import detached
from superbatch.errors import SuperBatchError

if TYPE_CHECKING:
    from superbatch.local.backend import LocalBackend
    from superbatch.local.state import JobStore

LOG_NAME = "runner.log"
START_TIMEOUT = 30.0


def start_runner(backend: LocalBackend, store: JobStore) -> int:
    """Start a runner for ``store``'s job unless one runs; returns once it holds the lock."""
    if store.runner_alive():
        return 0
    argv = [sys.executable, "-m", "superbatch.local.runner", store.job_id]
    argv += ["--home", str(backend.home), "--parallel", str(backend.parallel)]
    if backend.engine_name is not None:
        argv += ["--engine", backend.engine_name]
    if not backend.use_container:
        argv.append("--no-container")
    log = store.dir / LOG_NAME
    proc = detached.spawn(argv, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not store.runner_alive():
        if proc.poll() is not None and not store.runner_alive():
            ended, last = detached.ended_on_its_own(proc, log, "runner")
            if ended:
                return proc.pid  # it ran the job to its end before we looked: all done
            raise SuperBatchError(f"the background runner of {store.job_id} stopped: {last}")
        if time.monotonic() > deadline:
            raise SuperBatchError(
                f"the background runner of {store.job_id} did not start in "
                f"{START_TIMEOUT:.0f} s (see {log})"
            )
        time.sleep(0.05)
    return proc.pid


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m superbatch.local.runner")
    parser.add_argument("job_id")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--parallel", type=int)
    parser.add_argument("--engine")
    parser.add_argument("--no-container", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # `cancel`: kill the tasks, as Ctrl-C does
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from superbatch.local.backend import LocalBackend

    backend = LocalBackend(
        home=args.home,
        parallel=args.parallel,
        engine=args.engine,
        container=not args.no_container,
    )
    try:
        status = backend.wait(args.job_id, run_here=True)
    except KeyboardInterrupt:
        print(f"runner {os.getpid()}: stopped", flush=True)
        return 130
    except SuperBatchError as exc:
        print(f"error: {exc}", flush=True)
        return exc.exit_code
    print(f"runner {os.getpid()}: {status.state}", flush=True)
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
