from __future__ import annotations

import json
import shlex
from datetime import timedelta
from pathlib import Path

import pytest

from superbatch.azure.submit import MAX_BODY_BYTES, chunk_bodies
from superbatch.azure.tasks import (
    aggregate_body,
    depends_on_all,
    iso_duration,
    output_base,
    serialized_bodies,
    task_body,
)
from superbatch.contract import OPTIONAL_OUTPUTS, OUTPUT_NAMES, StackOutputs
from superbatch.model import AggregateSpec, InputFile, ResolvedJob, TaskSpec

OUTPUTS = StackOutputs.from_mapping(
    {name: f"x-{name}" for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS}
    | {
        "inputs_container_url": "https://acct.blob.core.windows.net/inputs",
        "outputs_container_url": "https://acct.blob.core.windows.net/outputs",
        "registry_login_server": "sbdev.azurecr.io",
        "node_identity_resource_id": "/subscriptions/s/rg/r/identity/id",
    },
    source="test",
)


def _job(tmp_path: Path) -> ResolvedJob:
    source = tmp_path / "a b.txt"
    source.write_text("x")
    return ResolvedJob(
        job_id="wc-1a2b",
        name="wc",
        image="wc:1",
        tasks=(
            TaskSpec(
                "0",
                "python /app/count.py 'a b.txt' out/a.json",
                env={"SEED": "1"},
                inputs=(InputFile(source, "a b.txt"),),
            ),
        ),
        outputs=("out/**", "summary.txt"),
        shared=(InputFile(source, "model.bin"),),
        retries=2,
        timeout=timedelta(minutes=30),
        aggregate=AggregateSpec("cat results/*/out/*.json > total.json", ("total.json",)),
    )


def _sdk_task(job: ResolvedJob) -> dict[str, object]:
    """The same task built with the SDK's own models, serialized the way the SDK sends it."""
    from azure.batch import models as m
    from azure.batch._model_base import SdkJSONEncoder

    identity = m.BatchNodeIdentityReference(resource_id=OUTPUTS.node_identity_resource_id)

    def out(pattern: str, path: str) -> m.OutputFile:
        return m.OutputFile(
            file_pattern=pattern,
            destination=m.OutputFileDestination(
                container=m.OutputFileBlobContainerDestination(
                    container_url=OUTPUTS.outputs_container_url,
                    path=path,
                    identity_reference=identity,
                )
            ),
            upload_options=m.OutputFileUploadConfiguration(
                upload_condition=m.OutputFileUploadCondition.TASK_COMPLETION
            ),
        )

    body = task_body(job, job.tasks[0], OUTPUTS)
    model = m.BatchTaskCreateOptions(
        id="0",
        command_line=body["commandLine"],
        container_settings=m.BatchTaskContainerSettings(
            image_name="sbdev.azurecr.io/wc:1",
            container_run_options="--entrypoint=",
            working_directory=m.ContainerWorkingDirectory.TASK_WORKING_DIRECTORY,
        ),
        constraints=m.BatchTaskConstraints(
            max_task_retry_count=2, max_wall_clock_time=timedelta(minutes=30)
        ),
        resource_files=[
            m.ResourceFile(
                storage_container_url=OUTPUTS.inputs_container_url,
                blob_prefix=prefix,
                file_path=".superbatch/inputs",
                identity_reference=identity,
            )
            for prefix in ("wc-1a2b/shared/", "wc-1a2b/tasks/0/")
        ],
        output_files=[
            out("out/**", "wc-1a2b/0/out"),
            out("summary.txt", "wc-1a2b/0/summary.txt"),
            out("../std*.txt", "_logs/wc-1a2b/0"),
        ],
        environment_settings=[m.EnvironmentSetting(name="SEED", value="1")],
    )
    result: dict[str, object] = json.loads(json.dumps(model, cls=SdkJSONEncoder))
    return result


def test_task_body_is_exactly_what_the_sdk_models_send(tmp_path: Path) -> None:
    job = _job(tmp_path)

    ours, sdk = task_body(job, job.tasks[0], OUTPUTS), _sdk_task(job)

    # Both are ISO-8601 for 30 minutes; the SDK pads, we do not.
    assert (ours["constraints"]["maxWallClockTime"], sdk["constraints"]["maxWallClockTime"]) == (  # type: ignore[index]
        "PT30M",
        "PT30M00S",
    )
    ours["constraints"]["maxWallClockTime"] = sdk["constraints"]["maxWallClockTime"]  # type: ignore[index]
    assert ours == sdk


def test_command_runs_the_user_command_through_sh_after_linking_inputs(tmp_path: Path) -> None:
    job = _job(tmp_path)

    argv = shlex.split(task_body(job, job.tasks[0], OUTPUTS)["commandLine"])

    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3
    script = argv[2]
    assert ".superbatch/inputs/wc-1a2b/shared" in script
    assert ".superbatch/inputs/wc-1a2b/tasks/0" in script
    assert script.rstrip().endswith("python /app/count.py 'a b.txt' out/a.json\n}")


def test_aggregate_depends_on_every_task_and_gets_the_outputs_tree(tmp_path: Path) -> None:
    job = _job(tmp_path)

    body = aggregate_body(job, OUTPUTS)

    assert body["id"] == "_aggregate"
    assert body["dependsOn"] == {"taskIdRanges": [{"start": 0, "end": 0}]}
    assert body["resourceFiles"][0]["storageContainerUrl"] == OUTPUTS.outputs_container_url
    assert body["resourceFiles"][0]["blobPrefix"] == "wc-1a2b/"
    assert [o["destination"]["container"]["path"] for o in body["outputFiles"]] == [
        "wc-1a2b/_aggregate/total.json",
        "_logs/wc-1a2b/_aggregate",
    ]


def test_dependencies_use_ranges_for_numeric_ids() -> None:
    ids = [str(i) for i in range(100_000) if i != 500] + ["extra", "007"]

    assert depends_on_all(ids) == {
        "taskIdRanges": [{"start": 0, "end": 499}, {"start": 501, "end": 99_999}],
        "taskIds": ["extra", "007"],
    }


@pytest.mark.parametrize(
    ("pattern", "base"),
    [
        ("out/**", "out"),
        ("out/*.json", "out"),
        ("*.txt", ""),
        ("a/b.txt", "a/b.txt"),
        ("**/x", ""),
        ("a/b/*/c/*.txt", "a/b"),
    ],
)
def test_output_base(pattern: str, base: str) -> None:
    assert output_base(pattern) == base


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=30), "PT30M"),
        (timedelta(days=1), "P1D"),
        (timedelta(days=1, hours=2, seconds=5), "P1DT2H5S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_iso_duration(value: timedelta, text: str) -> None:
    assert iso_duration(value) == text


def test_chunks_hold_at_most_100_tasks_and_stay_under_1_mb() -> None:
    small = [(str(i), b'{"id":"%d"}' % i) for i in range(250)]
    big = [(f"b{i}", b'{"x":"' + b"y" * 300_000 + b'"}') for i in range(7)]

    small_chunks = list(chunk_bodies(small))
    big_chunks = list(chunk_bodies(big))

    assert [len(c.tasks) for c in small_chunks] == [100, 100, 50]
    assert [len(c.tasks) for c in big_chunks] == [3, 3, 1]
    assert all(len(c.body()) < MAX_BODY_BYTES for c in small_chunks + big_chunks)
    assert json.loads(small_chunks[0].body())["value"][0] == {"id": "0"}
    assert [t for c in small_chunks for t, _ in c.tasks] == [t for t, _ in small]


def test_bodies_are_generated_lazily(tmp_path: Path) -> None:
    job = _job(tmp_path)
    bodies = serialized_bodies(job, OUTPUTS)

    assert next(bodies)[0] == "0"
    assert next(bodies)[0] == "_aggregate"


def test_poll_interval_backs_off_while_nothing_changes_and_snaps_back() -> None:
    from superbatch.azure.monitor import PollInterval

    interval = PollInterval(0.5, 30.0)

    quiet = [interval.next(changed=False) for _ in range(12)]
    moved = interval.next(changed=True)

    assert quiet == sorted(quiet) and quiet[0] > 0.5 and quiet[-1] == 30.0
    assert moved == 0.5


def test_a_gpu_pool_gives_tasks_the_gpus_and_slots_become_required_slots(
    tmp_path: Path,
) -> None:
    import dataclasses

    from superbatch.contract import PoolInfo

    gpu = PoolInfo("gpu", "p-gpu", "Standard_NC4as_T4_v3", 4, 28.0, 1, 1, 1, "dedicated", True)
    outputs = dataclasses.replace(OUTPUTS, pools={**OUTPUTS.pools, "gpu": gpu})
    plain = _job(tmp_path)
    on_gpu = dataclasses.replace(plain, pool="gpu", slots=2)
    task = on_gpu.tasks[0]
    options = task_body(on_gpu, task, outputs)["containerSettings"]["containerRunOptions"]
    assert options.endswith(" --gpus all")
    assert task_body(on_gpu, task, outputs)["requiredSlots"] == 2
    assert aggregate_body(on_gpu, outputs)["requiredSlots"] == 2
    default = task_body(plain, task, outputs)
    assert "--gpus" not in default["containerSettings"]["containerRunOptions"]
    assert "requiredSlots" not in default  # Batch's default, 1
