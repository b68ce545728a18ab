"""Two pools on the emulator, through the real CLI: jobs land on their pool, ``slots`` is
Batch's ``requiredSlots``, and a pool the stack does not have is refused before any upload."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azure.conftest import EMULATOR_MISSING, EmulatedStack, write_stack
from tests.azure.jobs import TEST_IMAGE
from tests.runner.conftest import superbatch, write

BIG = "superbatch-pool-big"


@pytest.fixture
def two_pools(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fake_az_login: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[EmulatedStack]:
    """The default pool (4 slots) and ``big`` (2 slots per node), as ``pools`` exports them."""
    try:
        from tests.emulator.pools import PoolSpec
        from tests.emulator.server import start_emulator
    except ImportError:
        pytest.fail(EMULATOR_MISSING)
    azurite = request.getfixturevalue("azurite_https")
    emulator = start_emulator(azurite=azurite, https=True, slots=4)
    emulator.add_pool(PoolSpec(id=BIG, vm_size="standard_e8s_v5", slots=2, dedicated=1))
    pools = {
        "default": {"id": emulator.pool_id, "vmSize": "Standard_D2s_v5", "cores": 2, "slots": 4},
        "big": {"id": BIG, "vmSize": "Standard_E8s_v5", "cores": 8, "slots": 2},
    }
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
        yield write_stack(tmp_path, emulator, azurite, pools=pools)
    finally:
        emulator.stop()


def _spec(project: Path, extra: str, count: int = 3) -> None:
    write(
        project,
        {
            "job.toml": (
                'name = "placed"\n'
                f'image = "{TEST_IMAGE}"\n'
                'command = "echo {n}; sleep 0.3"\n'
                'tasks = "rows.csv"\n' + extra
            ),
            "rows.csv": "n\n" + "".join(f"{i}\n" for i in range(count)),
        },
    )


def _run(project: Path, stack: EmulatedStack) -> Any:
    return superbatch(
        "run", "job.toml", "--outputs", str(stack.outputs_file), "--json", cwd=project
    )


def test_jobs_land_on_their_pool_and_status_names_it(
    tmp_path: Path, two_pools: EmulatedStack
) -> None:
    client = two_pools.emulator.client()
    for extra, pool_id, name in (
        ("", two_pools.emulator.pool_id, "default"),
        ('pool = "big"\n', BIG, "big"),
    ):
        project = tmp_path / name
        project.mkdir()
        _spec(project, extra)
        result = _run(project, two_pools)
        assert result.code == 0, result.stderr
        job_id = result.json()["job_id"]
        assert client.get_job(job_id).pool_info.pool_id == pool_id
        assert {t.node_info.pool_id for t in client.list_tasks(job_id)} == {pool_id}
        status = superbatch(
            "status", job_id, "--outputs", str(two_pools.outputs_file), "--json", cwd=project
        )
        assert status.json()["pool"] == name


def test_slots_are_required_slots_and_limit_tasks_per_node(
    tmp_path: Path, two_pools: EmulatedStack
) -> None:
    _spec(tmp_path, 'pool = "big"\nslots = 2\n', count=3)
    result = _run(tmp_path, two_pools)
    assert result.code == 0, result.stderr
    tasks = list(two_pools.emulator.client().list_tasks(result.json()["job_id"]))
    assert {t.required_slots for t in tasks} == {2}
    spans = sorted((t.execution_info.start_time, t.execution_info.end_time) for t in tasks)
    # One node of 2 slots: a task taking 2 slots runs alone.
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('pool = "gpu"\n', "pool 'gpu' is not one of the stack's pools (default, big)"),
        (
            'pool = "big"\nslots = 3\n',
            "slots = 3 is more than a node of pool big has (2 task slots",
        ),
    ],
)
def test_a_pool_the_stack_cannot_give_is_refused_before_any_upload(
    tmp_path: Path, two_pools: EmulatedStack, extra: str, said: str
) -> None:
    _spec(tmp_path, extra)
    result = superbatch("run", "job.toml", "--outputs", str(two_pools.outputs_file), cwd=tmp_path)
    assert result.code == 2
    assert said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    inputs = two_pools.container(two_pools.outputs.inputs_container)
    assert list(inputs.list_blobs()) == []
    assert two_pools.emulator.requests["create_job"] == 0
