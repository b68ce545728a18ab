"""The locks that say who runs or leads a job, probed by other commands meanwhile: the local
run lock (``JobStore.runner_alive``) and an Azure job's watch lock (``watcher.alive``).

Each probe is a process of its own here, as `status`, `wait` and ``start_runner`` /
``start_watcher`` are. A probe that took the lock exclusively made a second probe at the
same instant see a leader that was not there (``start_watcher`` then started none), and made
a watcher starting at that instant give up ("another process leads job").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from superbatch.azure.watcher import LEAD_PATIENCE, WATCHER_ROLE, JobLock, alive
from superbatch.local.state import JobStore

PROBE = """
import sys, time
from pathlib import Path
kind, folder, go, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
if kind == "azure":
    from superbatch.azure.watcher import alive
    probe = lambda: alive(folder)
else:
    from superbatch.local.state import JobStore
    probe = JobStore(folder.parent.parent, folder.name).runner_alive
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
probes = said_alive = 0
while not stop.exists() or probes < 3000:
    probes += 1
    said_alive += probe()
print(probes, said_alive)
"""


def _probers(kind: str, folder: Path, tmp_path: Path) -> list[subprocess.Popen[str]]:
    """Two probing processes, started together once both are ready (imports done)."""
    go, stop = tmp_path / "go", tmp_path / "stop"
    probers = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, kind, str(folder), str(go), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in probers:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    go.touch()
    return probers


def _results(probers: list[subprocess.Popen[str]]) -> list[tuple[int, int]]:
    found = []
    for proc in probers:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        probes, said_alive = out.split()
        found.append((int(probes), int(said_alive)))
    return found


def _local_folder(tmp_path: Path) -> Path:
    store = JobStore(tmp_path / "home", "job-1")
    store.dir.mkdir(parents=True)
    store.lock_file.touch()  # a job whose runner has gone: its lock file stays
    assert store.dir == tmp_path / "home" / "jobs" / "job-1"
    return store.dir


@pytest.mark.parametrize("kind", ["local", "azure"])
def test_probes_at_the_same_instant_never_see_each_other_as_the_leader(
    tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "watch" if kind == "azure" else _local_folder(tmp_path)
    folder.mkdir(exist_ok=True)
    (folder / "lock").touch()
    probers = _probers(kind, folder, tmp_path)
    (tmp_path / "stop").touch()  # each probes 3000 times, both at once
    results = _results(probers)
    assert [said_alive for _, said_alive in results] == [0, 0], results  # nobody leads


def test_a_watcher_taking_the_lead_is_not_turned_away_by_probes(tmp_path: Path) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    (folder / "lock").touch()
    probers = _probers("azure", folder, tmp_path)
    refused = 0
    try:
        for _ in range(300):  # as many watchers starting while two commands probe
            lock = JobLock(folder)
            if lock.acquire(role=WATCHER_ROLE, patience=LEAD_PATIENCE):
                lock.release()
            else:
                refused += 1
    finally:
        (tmp_path / "stop").touch()
        results = _results(probers)
    assert refused == 0
    assert all(probes >= 3000 for probes, _ in results)  # they did probe meanwhile


def test_a_real_leader_still_turns_the_others_away(tmp_path: Path) -> None:
    folder = tmp_path / "watch"
    leader = JobLock(folder)
    assert leader.acquire(role=WATCHER_ROLE)
    try:
        assert alive(folder)
        assert not JobLock(folder).acquire(role=WATCHER_ROLE, patience=0.2)
    finally:
        leader.release()
    assert not alive(folder)
    store = JobStore(tmp_path / "home", "job-1")
    store.dir.mkdir(parents=True)
    with store.runner_lock() as ours:
        assert ours and store.runner_alive()
    assert not store.runner_alive()
