"""``results --only`` / ``--no-download``, file modes, and an aggregate that gets no logs:
through the real CLI, on emulated Azure and ``--local`` alike."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack
from tests.runner.conftest import job_id_of, superbatch

SPEC = """
name = "choose"
image = "docker.io/library/busybox:1.36"
command = "mkdir -p out && echo {n} > out/{n}.json && echo note > out/{n}.txt && echo hi"
tasks = "rows.csv"
outputs = ["out/*"]

[aggregate]
command = "find results -type f | sort > ../seen.txt && mv ../seen.txt seen.txt"
outputs = ["seen.txt"]
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def write_spec(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rows.csv").write_text("n\n1\n2\n")
    spec = root / "job.toml"
    spec.write_text(SPEC)
    return spec


def files_of(root: Path) -> dict[str, int]:
    """Relative path -> permission bits of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


def backends(stack: EmulatedStack) -> dict[str, tuple[str, ...]]:
    return {"local": ("--local",), "azure": ("--outputs", str(stack.outputs_file))}


def test_only_no_download_and_modes_are_the_same_on_both_backends(
    tmp_path: Path, stack: EmulatedStack, umask_022: None
) -> None:
    spec = write_spec(tmp_path / "spec")
    seen: dict[str, dict[str, dict[str, int]]] = {}
    for name, args in backends(stack).items():
        run_args = (*args, "--no-container") if name == "local" else args
        run = superbatch(
            "run", str(spec), *run_args, "--json", "--results", f"{name}-all", cwd=tmp_path
        )
        assert run.code == 0, run.stderr
        job_id = job_id_of(run)
        only = superbatch(
            "results",
            job_id,
            *args,
            "--only",
            "out/*.json",
            "--results",
            f"{name}-json",
            cwd=tmp_path,
        )
        logs = superbatch(
            "results",
            job_id,
            *args,
            "--only",
            "_logs/std*",
            "--results",
            f"{name}-logs",
            cwd=tmp_path,
        )
        listed = superbatch(
            "results",
            job_id,
            *args,
            "--no-download",
            "--json",
            "--results",
            f"{name}-none",
            cwd=tmp_path,
        )
        assert only.code == logs.code == listed.code == 0, (only.stderr, logs.stderr)
        seen[name] = {
            kind: files_of(tmp_path / f"{name}-{kind}" / job_id)
            for kind in ("all", "json", "logs", "none")
        }
        manifest = json.loads((tmp_path / f"{name}-none" / job_id / "manifest.json").read_text())
        entries = [f for t in manifest["tasks"] for f in t["files"]]
        assert len(entries) == 2 * 4  # two outputs and two logs per task, each by URL
        assert all(f["url"] and f["size"] >= 0 for f in entries)
        if name == "azure":
            container = stack.outputs.outputs_container_url
            assert all(f["url"].startswith(container + "/") for f in entries)

    for kind in ("all", "json", "logs", "none"):
        assert seen["local"][kind] == seen["azure"][kind], kind
    beside = {"manifest.json", "timings.json"}  # written by every `results`
    assert set(seen["azure"]["json"]) == beside | {"0/out/1.json", "1/out/2.json"}
    assert set(seen["azure"]["logs"]) == beside | {
        f"{t}/_logs/std{s}.txt" for t in ("0", "1", "_aggregate") for s in ("out", "err")
    }
    assert set(seen["azure"]["none"]) == beside
    assert set(seen["azure"]["all"].values()) == {0o644}  # files 0644 under umask 022


def test_the_aggregate_step_gets_the_outputs_and_never_the_logs(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    spec = write_spec(tmp_path / "spec")
    run = superbatch("run", str(spec), "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    job_id = job_id_of(run)
    seen = (tmp_path / "results" / job_id / "_aggregate" / "seen.txt").read_text().split()
    assert seen == [
        f"results/{t}/out/{n}.{e}" for t, n in (("0", 1), ("1", 2)) for e in ("json", "txt")
    ]
    # what the aggregate's one resource file (prefix <job>/) brings holds no log at all
    outputs = stack.container(stack.outputs.outputs_container)
    under_job = [b.name for b in outputs.list_blobs(name_starts_with=f"{job_id}/")]
    assert under_job and not [n for n in under_job if "_logs" in n]
