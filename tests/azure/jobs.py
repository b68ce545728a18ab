"""Small resolved jobs for the Azure backend tests (built directly: the spec loader is not ours)."""

from __future__ import annotations

from pathlib import Path

from superbatch.model import InputFile, ResolvedJob, TaskSpec


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
        image=None,
        tasks=tuple(tasks),
        outputs=("out/**",),
        shared=shared_files,
    )
