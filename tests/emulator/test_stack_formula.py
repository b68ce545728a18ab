"""The stack's own autoscale formula (``infra.autoscale``) drives an emulated pool end to end:
zero nodes while idle, up to ``maxNodes`` for queued tasks, back to zero once they are done."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from infra.autoscale import autoscale_formula

from tests.emulator.fixtures import serve_emulator
from tests.emulator.helpers import new_job, wait_for_tasks
from tests.emulator.pools import PoolSpec
from tests.emulator.server import start_emulator
from tests.support.azurite import Azurite

BUSYBOX = m.BatchTaskContainerSettings(image_name="docker.io/library/busybox:1.36")
INTERVAL = 300.0
NODE_START = 60.0


@pytest.mark.parametrize("rounding", ["down", "up", "nearest"])
def test_the_stack_formula_scales_from_zero_to_max_nodes_and_back(
    azurite: Azurite, rounding: str
) -> None:
    formula = autoscale_formula(max_nodes=2, task_slots_per_node=1, spot=False)
    spec = PoolSpec(
        formula=formula,
        interval_seconds=INTERVAL,
        node_start_seconds=NODE_START,
        slots=1,
        rounding=rounding,
    )
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        emulator.clock.advance(0)
        pool = client.get_pool(emulator.pool_id)
        assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (0, 0)
        assert pool.auto_scale_run is not None and pool.auto_scale_run.error is None

        new_job(emulator, client)
        tasks = [
            m.BatchTaskCreateOptions(id=f"t{i}", command_line="true", container_settings=BUSYBOX)
            for i in range(3)
        ]
        client.create_tasks("job-1", tasks)
        # The clock runs on host time too: aim at the evaluation due, not at creation + 300 s.
        with emulator.account.lock:
            due = emulator.pool().next_evaluation
        emulator.clock.advance(max(0.0, due - emulator.clock.now() - 1))
        assert emulator.pool_wire()["targetDedicatedNodes"] == 0  # not before the evaluation
        emulator.clock.advance(1)
        pool = client.get_pool(emulator.pool_id)
        assert pool.target_dedicated_nodes == 2  # three tasks, one slot each, maxNodes 2
        assert {n.state for n in client.list_nodes(emulator.pool_id)} == {"starting"}

        emulator.clock.advance(NODE_START)
        done = wait_for_tasks(client, "job-1", 3)
        assert all(t.execution_info and t.execution_info.exit_code == 0 for t in done)
        assert len({t.node_info.node_id for t in done if t.node_info}) == 2

        emulator.clock.advance(INTERVAL)
        pool = client.get_pool(emulator.pool_id)
        assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (0, 0)
        assert list(client.list_nodes(emulator.pool_id)) == []
