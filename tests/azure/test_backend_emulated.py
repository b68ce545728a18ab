"""AzureBatchBackend end to end against the Batch emulator and https Azurite (Entra tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from superbatch.errors import JobNotFoundError, TaskNotStartedError
from superbatch.model import AggregateSpec, InputFile, ResolvedJob, TaskSpec, TaskState
from tests.azure.conftest import EmulatedStack
from tests.azure.jobs import TEST_IMAGE


def wordcount_job(tmp_path: Path, count: int = 3, *, job_id: str = "wc-e2e") -> ResolvedJob:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (tmp_path / "model.bin").write_text("M\n")
    tasks = []
    for index in range(count):
        source = data / f"in {index}.txt"
        source.write_text("word " * (index + 1))
        tasks.append(
            TaskSpec(
                str(index),
                "mkdir -p out && wc -w < 'data/in.txt' > out/count.txt && cat model.bin >> "
                'out/count.txt && echo "$MODE-$SEED" && echo warn >&2',
                env={"SEED": str(index)},
                inputs=(InputFile(source, "data/in.txt"),),
            )
        )
    return ResolvedJob(
        job_id=job_id,
        name="wc",
        image=TEST_IMAGE,
        tasks=tuple(tasks),
        outputs=("out/**",),
        shared=(InputFile(tmp_path / "model.bin", "model.bin"),),
        env={"MODE": "fast"},
        aggregate=AggregateSpec("cat results/*/out/count.txt > total.txt", ("total.txt",)),
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def test_runs_a_job_and_brings_results_home(tmp_path: Path, stack: EmulatedStack) -> None:
    job = wordcount_job(tmp_path)
    backend = stack.backend()

    seen = []
    backend.submit(job)
    status = backend.wait(job.job_id, timeout=120, progress=seen.append)
    results = backend.results(job.job_id, tmp_path / "results")

    assert status.counts.succeeded == 3 and status.counts.failed == 0, status
    assert all(counts.total == 3 for counts in seen)  # the aggregate is not a task here
    tree = _tree(tmp_path / "results" / job.job_id)
    assert tree["0/out/count.txt"].split() == ["1", "M"]
    assert tree["2/out/count.txt"].split() == ["3", "M"]
    assert tree["1/_logs/stdout.txt"] == "fast-1\n"
    assert tree["1/_logs/stderr.txt"] == "warn\n"
    assert tree["_aggregate/total.txt"].split() == ["1", "M", "2", "M", "3", "M"]
    assert sorted(tree) == sorted(
        [
            f"{t}/{f}"
            for t in "012"
            for f in ("out/count.txt", "_logs/stdout.txt", "_logs/stderr.txt")
        ]
        + ["_aggregate/total.txt", "_aggregate/_logs/stdout.txt", "_aggregate/_logs/stderr.txt"]
    )
    assert [r.state for r in results] == [TaskState.SUCCEEDED] * 4
    assert (tmp_path / "results" / job.job_id / "manifest.json").is_file()
    # Everything went over https with bearer tokens from the CLI credential, no key.
    assert stack.emulator.principals["sharedkey"] == 0
    assert stack.emulator.principals["bearer"] > 0


def test_failed_task_reports_reason_and_stderr_tail(tmp_path: Path, stack: EmulatedStack) -> None:
    job = ResolvedJob(
        job_id="fails-1",
        name="fails",
        image=TEST_IMAGE,
        tasks=(
            TaskSpec("0", "true"),
            TaskSpec("1", "echo 'cannot open data.csv' >&2; exit 3"),
        ),
        outputs=(),
        retries=1,
    )
    backend = stack.backend()

    backend.submit(job)
    status = backend.wait(job.job_id, timeout=120)

    assert (status.counts.succeeded, status.counts.failed) == (1, 1)
    (failed,) = status.failed
    assert failed.task_id == "1" and failed.exit_code == 3 and failed.attempts == 2
    assert failed.failure == "exit code 3 (after 2 attempts)"  # worded as --local words it
    assert failed.stderr_tail.strip() == "cannot open data.csv"
    assert backend.logs(job.job_id, "1") == "cannot open data.csv\n"


def test_resubmitting_the_same_job_adds_nothing(tmp_path: Path, stack: EmulatedStack) -> None:
    job = wordcount_job(tmp_path, 5, job_id="wc-twice")
    backend = stack.backend()
    stack.emulator.hold = True
    backend.submit(job)

    again = stack.backend()
    again.submit(job)

    assert again.last_staging.uploaded == 0 and again.last_staging.skipped == 6
    assert again.last_submit is None or again.last_submit.added == 0
    assert len(stack.emulator.tasks(job.job_id)) == 6


def test_clean_removes_the_job_and_its_blobs(tmp_path: Path, stack: EmulatedStack) -> None:
    job = wordcount_job(tmp_path, 2, job_id="wc-clean")
    backend = stack.backend()
    backend.submit(job)
    backend.wait(job.job_id, timeout=120)

    backend.clean(job.job_id)

    assert job.job_id not in [summary.job_id for summary in backend.list()]
    for name in (stack.outputs.inputs_container, stack.outputs.outputs_container):
        assert not list(stack.container(name).list_blobs(name_starts_with=f"{job.job_id}/"))


def test_logs_of_an_unknown_job_or_task_is_job_not_found(stack: EmulatedStack) -> None:
    job = ResolvedJob(
        job_id="logs-1", name="logs", image=TEST_IMAGE, tasks=(TaskSpec("0", "true"),), outputs=()
    )
    backend = stack.backend()
    stack.emulator.hold = True  # the task stays queued: it exists, with no log yet
    backend.submit(job)

    for stream in ("stderr", "stdout"):  # a task that has not run says so, as --local does
        with pytest.raises(TaskNotStartedError, match="task 0 of job logs-1 has not run yet"):
            backend.logs(job.job_id, "0", stream=stream)
    with pytest.raises(JobNotFoundError, match="no-such-job"):
        backend.logs("no-such-job", "0")
    with pytest.raises(JobNotFoundError, match="task 7"):
        backend.logs(job.job_id, "7")


def test_results_removes_a_superseded_attempts_files_and_nothing_else(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    job = ResolvedJob(
        job_id="superseded-1",
        name="superseded",
        image=TEST_IMAGE,
        tasks=(TaskSpec("0", "mkdir -p out && echo a > out/a.txt && echo b > out/b.txt"),),
        outputs=("out/**",),
    )
    backend = stack.backend()
    backend.submit(job)
    backend.wait(job.job_id, timeout=120)
    dest = tmp_path / "results"
    backend.results(job.job_id, dest)
    task_dir = dest / job.job_id / "0"
    assert (task_dir / "out" / "b.txt").read_text() == "b\n"
    (task_dir / "notes.txt").write_text("mine\n")  # the user's own file: never touched

    # the outputs now are another attempt's, which wrote no b.txt
    stack.container(stack.outputs.outputs_container).delete_blob(f"{job.job_id}/0/out/b.txt")
    (result,) = backend.results(job.job_id, dest)

    assert not (task_dir / "out" / "b.txt").exists()
    assert (task_dir / "out" / "a.txt").read_text() == "a\n"
    assert (task_dir / "notes.txt").read_text() == "mine\n"
    assert {f.path for f in result.files} == {"out/a.txt", "_logs/stdout.txt", "_logs/stderr.txt"}
    backend.results(job.job_id, dest)  # and again: the user's file is still not ours to remove
    assert (task_dir / "notes.txt").read_text() == "mine\n"


def test_listing_every_task_holds_no_sdk_model_per_task(stack: EmulatedStack) -> None:
    """`tasks`, `timings` and `results` list every task of the job: each is converted as it
    is listed, so a page of the SDK's models (some 2 KB for a task that ran) is held at a
    time, never the whole job's (200 MB at 100,000 tasks)."""
    import tracemalloc

    count = 6000
    job = ResolvedJob(
        job_id="list-many",
        name="list",
        image=TEST_IMAGE,
        tasks=tuple(TaskSpec(str(i), "true", label=f"row {i}") for i in range(count)),
        outputs=(),
    )
    backend = stack.backend()
    stack.emulator.hold = True  # every task stays queued: listed, never run
    backend.submit(job)
    backend.tasks(job.job_id)  # imports, token, connections: not counted
    peaks = {}
    for name, listing in (("tasks", backend.tasks), ("timings", backend.timings)):
        tracemalloc.start()
        try:
            listed = listing(job.job_id)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(listed) == count
        peaks[name] = peak - kept  # above what the answer itself holds
    # about a page of 1,000 tasks (2.6 and 3.2 MB); the job's 6,000 models were 4.9 and 5.8 MB
    assert max(peaks.values()) < 4_000_000, peaks
