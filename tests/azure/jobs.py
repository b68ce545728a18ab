"""Small resolved jobs for the Azure backend tests (built directly: the spec loader is not ours)."""

from __future__ import annotations

from pathlib import Path

from infra.autoscale import autoscale_formula

from superbatch.model import InputFile, ResolvedJob, TaskSpec
from tests.emulator.pool_state import PoolInjections
from tests.emulator.pools import PoolSpec

# Every Azure job names an image (the stack's pool is a container pool). Named in full, so
# it is not looked up in the stack's registry; the emulator runs its tasks on the host
# unless a test asks for podman.
TEST_IMAGE = "docker.io/library/busybox:1.36"


def files_job(
    tmp_path: Path,
    contents: list[bytes],
    *,
    shared: bytes | None = None,
    job_id: str = "stage-test",
) -> ResolvedJob:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    tasks = []
    for index, content in enumerate(contents):
        source = data / f"f{index}.txt"
        source.write_bytes(content)
        tasks.append(
            TaskSpec(
                id=str(index),
                command="wc -c {input}",
                inputs=(InputFile(source, f"data/f{index}.txt"),),
            )
        )
    shared_files: tuple[InputFile, ...] = ()
    if shared is not None:
        model = tmp_path / "model.bin"
        model.write_bytes(shared)
        shared_files = (InputFile(model, "model.bin"),)
    return ResolvedJob(
        job_id=job_id,
        name="stage",
        image=TEST_IMAGE,
        tasks=tuple(tasks),
        outputs=("out/**",),
        shared=shared_files,
    )


def numbered_files_job(data: Path, count: int, *, job_id: str = "resume-1") -> ResolvedJob:
    """``count`` tasks, each with its own small input (written once, same bytes every call)."""
    data.mkdir(parents=True, exist_ok=True)
    tasks = []
    for index in range(count):
        source = data / f"{index}.txt"
        if not source.exists():
            source.write_text(f"input {index}\n")
        tasks.append(
            TaskSpec(
                str(index),
                "mkdir -p out && cp in.txt out/copy.txt",
                inputs=(InputFile(source, "in.txt"),),
            )
        )
    return ResolvedJob(
        job_id=job_id, name="resume", image=TEST_IMAGE, tasks=tuple(tasks), outputs=("out/*",)
    )


def noop_job(count: int, *, job_id: str = "noop-1") -> ResolvedJob:
    return ResolvedJob(
        job_id=job_id,
        name="noop",
        image=TEST_IMAGE,
        tasks=tuple(TaskSpec(str(i), "true") for i in range(count)),
        outputs=(),
    )


def spot_pool_without_quota() -> PoolSpec:
    """The stack's own two-node Spot formula on a pool whose Spot core quota is 0."""
    return PoolSpec(
        formula=autoscale_formula(max_nodes=2, task_slots_per_node=1, spot=True),
        slots=1,
        interval_seconds=300,
        inject=PoolInjections(spot_core_quota=0),
    )
