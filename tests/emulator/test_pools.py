"""Pools and nodes: wire shapes through the SDK, the clock, autoscale routes and their limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulator.errors import BatchServiceError
from tests.emulator.fixtures import serve_emulator
from tests.emulator.helpers import error_code, new_job, wait_for_tasks
from tests.emulator.pool_state import PoolInjections
from tests.emulator.pools import PoolSpec
from tests.emulator.server import BatchEmulator, start_emulator
from tests.support.azurite import Azurite

BUSYBOX = m.BatchTaskContainerSettings(image_name="docker.io/library/busybox:1.36")
FIXED_FORMULA = "$TargetDedicatedNodes = 2;"


@pytest.fixture
def autoscaled(azurite: Azurite) -> Iterator[BatchEmulator]:
    spec = PoolSpec(formula="$TargetDedicatedNodes = 0;", interval_seconds=300, slots=1)
    yield from serve_emulator(start_emulator(azurite=azurite, pool=spec))


def test_the_default_pool_is_fixed_at_one_idle_node(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    pool = client.get_pool(batch_emulator.pool_id)
    assert pool.allocation_state == m.AllocationState.STEADY
    assert (pool.current_dedicated_nodes, pool.target_dedicated_nodes) == (1, 1)
    assert pool.enable_auto_scale is False
    [node] = client.list_nodes(batch_emulator.pool_id)
    assert node.state == m.BatchNodeState.IDLE and node.is_dedicated
    assert client.pool_exists(batch_emulator.pool_id)
    # HEAD of an unknown pool answers 404; the SDK's error policy (azure/batch/_patch.py) turns
    # every non-2xx into an exception, so pool_exists raises instead of returning False
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists("no-such-pool")


def test_a_running_task_shows_on_its_node(batch_emulator: BatchEmulator) -> None:
    client = batch_emulator.client()
    new_job(batch_emulator, client)
    client.create_task(
        "job-1",
        m.BatchTaskCreateOptions(id="t", command_line="sleep 30", container_settings=BUSYBOX),
    )
    from tests.emulator.helpers import wait_until_running

    wait_until_running(batch_emulator)
    [node] = client.list_nodes(batch_emulator.pool_id)
    assert node.state == m.BatchNodeState.RUNNING and node.running_tasks_count == 1
    task = client.get_task("job-1", "t")
    assert task.node_info is not None and task.node_info.node_id == node.id


def test_nodes_come_only_when_the_formula_asks_and_start_in_emulated_time(
    azurite: Azurite,
) -> None:
    spec = PoolSpec(formula=FIXED_FORMULA, interval_seconds=300, node_start_seconds=120)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        emulator.clock.advance(0)  # the first evaluation is due at creation
        pool = client.get_pool(emulator.pool_id)
        assert pool.allocation_state == m.AllocationState.RESIZING
        assert pool.target_dedicated_nodes == 2 and pool.enable_auto_scale
        assert pool.auto_scale_evaluation_interval is not None
        assert emulator.pool_wire()["autoScaleEvaluationInterval"] == "PT5M"
        assert pool.auto_scale_run is not None and pool.auto_scale_run.error is None
        assert {n.state for n in client.list_nodes(emulator.pool_id)} == {"starting"}
        emulator.clock.advance(119)
        assert {n["state"] for n in emulator.nodes()} == {"starting"}
        emulator.clock.advance(1)
        assert {n["state"] for n in emulator.nodes()} == {"idle"}
        pool = client.get_pool(emulator.pool_id)
        assert pool.allocation_state == m.AllocationState.STEADY
        assert pool.current_dedicated_nodes == 2


def test_tasks_wait_for_a_node_and_run_once_it_is_idle(azurite: Azurite) -> None:
    spec = PoolSpec(formula=FIXED_FORMULA, interval_seconds=300, node_start_seconds=60)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        new_job(emulator, client)
        client.create_task(
            "job-1",
            m.BatchTaskCreateOptions(id="t", command_line="true", container_settings=BUSYBOX),
        )
        emulator.wait_idle()  # nothing can run: no node yet
        assert emulator.tasks("job-1")[0]["state"] == "active"
        emulator.clock.advance(60)
        [task] = wait_for_tasks(client, "job-1", 1)
        assert task.execution_info is not None and task.execution_info.exit_code == 0


def test_evaluate_autoscale_answers_like_the_recordings(autoscaled: BatchEmulator) -> None:
    client = autoscaled.client()
    run = client.evaluate_pool_auto_scale(
        autoscaled.pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=3"),
    )
    assert run.results == (
        "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    )
    assert run.error is None
    bad = client.evaluate_pool_auto_scale(
        autoscaled.pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$something_useless"),
    )
    assert bad.error is not None and bad.error.code == "AutoScalingFormulaEvaluationError"
    assert client.get_pool(autoscaled.pool_id).target_dedicated_nodes == 0  # nothing applied


def test_enable_autoscale_more_than_once_in_30_s_is_refused(autoscaled: BatchEmulator) -> None:
    client = autoscaled.client()
    options = m.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=1")
    client.enable_pool_auto_scale(autoscaled.pool_id, options)
    with pytest.raises(HttpResponseError) as refused:
        client.enable_pool_auto_scale(autoscaled.pool_id, options)
    assert error_code(refused.value) == "TooManyEnableAutoScaleRequests"
    autoscaled.clock.advance(30)
    client.enable_pool_auto_scale(autoscaled.pool_id, options)


def test_an_interval_under_5_minutes_is_an_invalid_property(autoscaled: BatchEmulator) -> None:
    import datetime

    options = m.BatchPoolEnableAutoScaleOptions(
        auto_scale_evaluation_interval=datetime.timedelta(minutes=1)
    )
    with pytest.raises(HttpResponseError) as refused:
        autoscaled.client().enable_pool_auto_scale(autoscaled.pool_id, options)
    assert error_code(refused.value) == "InvalidPropertyValue"


def test_giving_the_interval_again_starts_a_new_schedule_now(autoscaled: BatchEmulator) -> None:
    import datetime

    client = autoscaled.client()
    autoscaled.clock.advance(200)  # created at 0, next evaluation at 300
    options = m.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula="$TargetDedicatedNodes=1",
        auto_scale_evaluation_interval=datetime.timedelta(minutes=5),
    )
    client.enable_pool_auto_scale(autoscaled.pool_id, options)
    autoscaled.clock.advance(0)
    assert client.get_pool(autoscaled.pool_id).target_dedicated_nodes == 1  # evaluated now
    first = autoscaled.pool_wire()["autoScaleRun"]["timestamp"]
    autoscaled.clock.advance(299)  # no evaluation at 300 (the old schedule) nor before 500
    assert autoscaled.pool_wire()["autoScaleRun"]["timestamp"] == first
    autoscaled.clock.advance(1)
    assert autoscaled.pool_wire()["autoScaleRun"]["timestamp"] != first


def test_disable_autoscale_keeps_the_nodes_and_drops_the_formula(azurite: Azurite) -> None:
    spec = PoolSpec(formula=FIXED_FORMULA, interval_seconds=300)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        emulator.clock.advance(0)
        emulator.client().disable_pool_auto_scale(emulator.pool_id)
        wire = emulator.pool_wire()
        assert wire["enableAutoScale"] is False and "autoScaleFormula" not in wire
        assert wire["currentDedicatedNodes"] == 2


def test_a_formula_batch_does_not_document_is_refused_at_creation(
    batch_emulator: BatchEmulator,
) -> None:
    spec = PoolSpec(id="other", formula="$TargetDedicatedNodes = ceil(1.5);")
    with pytest.raises(BatchServiceError) as refused:
        batch_emulator.add_pool(spec)
    assert (refused.value.status, refused.value.code) == (400, "AutoScalingFormulaSyntaxError")


def test_samples_reach_the_formula_about_a_minute_late(azurite: Azurite) -> None:
    formula = "$TargetDedicatedNodes = max(0, $PendingTasks.GetSample(1));"
    spec = PoolSpec(formula=formula, interval_seconds=300, dedicated=0)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        new_job(emulator, client)
        client.create_task(
            "job-1",
            m.BatchTaskCreateOptions(id="t", command_line="true", container_settings=BUSYBOX),
        )
        emulator.clock.advance(30)  # sampled at 30 s, available from 90 s
        options = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
        run = client.evaluate_pool_auto_scale(emulator.pool_id, options)
        assert run.results is not None and run.results.startswith("$TargetDedicatedNodes=0;")
        emulator.clock.advance(60)
        run = client.evaluate_pool_auto_scale(emulator.pool_id, options)
        assert run.results is not None and run.results.startswith("$TargetDedicatedNodes=1;")


def test_the_sample_period_and_lag_are_settable(azurite: Azurite) -> None:
    """A model other than Batch's documented one (samples every 60 s, seen 20 s later), so a
    runner can be shown right under more than one."""
    formula = (
        "$TargetDedicatedNodes = max(0, $PendingTasks.GetSample(1));"
        "period = $PendingTasks.GetSamplePeriod() == 60 * TimeInterval_Second;"
    )
    spec = PoolSpec(
        formula=formula,
        interval_seconds=300,
        dedicated=0,
        sample_period_seconds=60,
        sample_lag_seconds=20,
    )
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        emulator.clock.advance(1)  # the sample at 0 s (no task) is recorded
        new_job(emulator, client)
        client.create_task(
            "job-1",
            m.BatchTaskCreateOptions(id="t", command_line="true", container_settings=BUSYBOX),
        )
        options = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
        seen = []
        for step in (78, 1):  # sampled at 60 s, available from 80 s
            emulator.clock.advance(step)
            run = client.evaluate_pool_auto_scale(emulator.pool_id, options)
            assert run.results is not None and "period=1" in run.results, run.results
            seen.append(run.results.split(";")[0])
        assert seen == ["$TargetDedicatedNodes=0", "$TargetDedicatedNodes=1"]


def test_spot_quota_0_is_a_resize_error_and_no_node(azurite: Azurite) -> None:
    quota_0 = PoolInjections(spot_core_quota=0)
    spec = PoolSpec(formula="$TargetLowPriorityNodes = 2;", interval_seconds=300, inject=quota_0)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        emulator.clock.advance(0)
        pool = emulator.client().get_pool(emulator.pool_id)
        assert pool.allocation_state == m.AllocationState.STEADY
        assert pool.current_low_priority_nodes == 0 and pool.target_low_priority_nodes == 2
        assert pool.resize_errors is not None
        assert [e.code for e in pool.resize_errors] == ["AccountLowPriorityCoreQuotaReached"]


def test_a_preempted_spot_node_sends_its_task_back_to_run_again(azurite: Azurite) -> None:
    spec = PoolSpec(formula="$TargetLowPriorityNodes = 1;", interval_seconds=300, slots=1)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        client = emulator.client()
        emulator.clock.advance(0)
        new_job(emulator, client)
        marker = emulator.node_root / "ran"
        command = f"/bin/sh -c 'echo x >> {marker}; sleep 2'"
        client.create_task(
            "job-1",
            m.BatchTaskCreateOptions(id="t", command_line=command, container_settings=BUSYBOX),
        )
        from tests.emulator.helpers import wait_until_running

        wait_until_running(emulator)
        with emulator.account.lock:
            [first] = emulator.pool().preempt()
        [task] = wait_for_tasks(client, "job-1", 1)
        assert task.execution_info is not None
        assert task.execution_info.requeue_count == 1 and task.execution_info.exit_code == 0
        assert marker.read_text() == "x\nx\n"
        states = {n["id"]: n["state"] for n in emulator.nodes()}
        assert states[first] == "preempted" and len(states) == 2


def _slow_task_on_one_node(emulator: BatchEmulator) -> str:
    from tests.emulator.helpers import wait_until_running

    client = emulator.client()
    emulator.clock.advance(0)
    new_job(emulator, client)
    task = m.BatchTaskCreateOptions(id="t", command_line="sleep 1", container_settings=BUSYBOX)
    client.create_task("job-1", task)
    wait_until_running(emulator)
    return str(emulator.tasks("job-1")[0]["nodeInfo"]["nodeId"])


def test_a_node_with_a_running_task_leaves_only_after_it_with_taskcompletion(
    azurite: Azurite,
) -> None:
    formula = "$TargetDedicatedNodes = 1; $NodeDeallocationOption = taskcompletion;"
    spec = PoolSpec(formula=formula, interval_seconds=300, slots=1)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        node_id = _slow_task_on_one_node(emulator)
        with emulator.account.lock:
            emulator.pool().resize(0, 0, "taskcompletion")  # what a formula asking 0 does
        assert [n["state"] for n in emulator.nodes()] == ["leavingpool"]
        [task] = wait_for_tasks(emulator.client(), "job-1", 1)
        assert task.execution_info is not None and task.execution_info.requeue_count == 0
        emulator.clock.advance(1)
        assert emulator.nodes() == [] and node_id


def test_an_unusable_node_sends_its_task_to_another_node(azurite: Azurite) -> None:
    spec = PoolSpec(formula="$TargetDedicatedNodes = 2;", interval_seconds=300, slots=1)
    for emulator in serve_emulator(start_emulator(azurite=azurite, pool=spec)):
        node_id = _slow_task_on_one_node(emulator)
        with emulator.account.lock:
            emulator.pool().fail_node(node_id)
        [task] = wait_for_tasks(emulator.client(), "job-1", 1)
        assert task.execution_info is not None and task.execution_info.requeue_count == 1
        assert task.node_info is not None and task.node_info.node_id != node_id
        states = {n["id"]: n["state"] for n in emulator.nodes()}
        assert states[node_id] == "unusable"


def test_enabling_an_undocumented_formula_is_refused_and_changes_nothing(
    autoscaled: BatchEmulator,
) -> None:
    options = m.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula="$TargetDedicatedNodes=ceil(0.5)"
    )
    with pytest.raises(HttpResponseError) as refused:
        autoscaled.client().enable_pool_auto_scale(autoscaled.pool_id, options)
    assert refused.value.status_code == 400
    assert error_code(refused.value) == "AutoScalingFormulaSyntaxError"
    assert autoscaled.pool_wire()["autoScaleFormula"] == "$TargetDedicatedNodes = 0;"
