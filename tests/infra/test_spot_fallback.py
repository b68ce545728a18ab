"""``spot: fallback`` and ``warmMinutes``: formulas evaluated on queues of samples.

A small Batch stand-in runs the formula once per evaluation: it sets the targets the formula
asked for, gets dedicated nodes always and Spot nodes up to what Spot capacity (quota) allows,
and preempts Spot nodes when the test says so. Only documented formula language is used:
``$PreemptedNodeCount``, the current node counts and the targets in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from infra.autoscale import autoscale_formula

from tests.infra.harness import run_program
from tests.support.formula import evaluate

FULL_WINDOW = 6


@dataclass
class SpotPool:
    """Node counts of one pool between evaluations."""

    formula: str
    spot_capacity: int = 1000  # Spot nodes Batch can get (0: no Spot quota)
    dedicated: int = 0
    spot: int = 0  # Spot nodes present, preempted ones included (as Batch counts them)
    preempted: int = 0
    targets: tuple[float, float] = (0.0, 0.0)
    history: list[tuple[float, float]] = field(default_factory=list)

    def evaluate(self, pending: list[float]) -> tuple[float, float]:
        result = evaluate(
            self.formula,
            pending_tasks=pending,
            pool={
                "$CurrentDedicatedNodes": self.dedicated,
                "$CurrentLowPriorityNodes": self.spot,
                "$TargetDedicatedNodes": self.targets[0],
                "$TargetLowPriorityNodes": self.targets[1],
                "$PreemptedNodeCount": [float(self.preempted)],
            },
        )
        self.targets = (result["$TargetDedicatedNodes"], result["$TargetLowPriorityNodes"])
        self.history.append(self.targets)
        # Batch resizes towards the targets; a preempted node is the first one removed.
        self.dedicated = int(self.targets[0])
        wanted_spot = int(self.targets[1])
        removed = max(0, self.spot - wanted_spot)
        self.preempted = max(0, self.preempted - removed)
        self.spot = min(wanted_spot, self.spot_capacity + self.preempted)
        return self.targets

    @property
    def usable(self) -> int:
        return self.dedicated + self.spot - self.preempted


def fallback(max_nodes: int = 4, slots: int = 1) -> str:
    return autoscale_formula(max_nodes=max_nodes, task_slots_per_node=slots, spot="fallback")


def test_spot_nodes_come_first_when_spot_can_be_had() -> None:
    pool = SpotPool(fallback())
    for _ in range(4):
        assert pool.evaluate([3] * FULL_WINDOW) == (0, 3)
    assert pool.usable == 3


def test_without_spot_quota_dedicated_nodes_make_up_from_the_next_evaluation() -> None:
    pool = SpotPool(fallback(), spot_capacity=0)
    assert pool.evaluate([3] * FULL_WINDOW) == (0, 3)  # Spot is tried first
    assert pool.usable == 0
    assert pool.evaluate([3] * FULL_WINDOW) == (3, 0)  # none came: dedicated instead
    for _ in range(3):  # and it stays so (no swinging back to Spot that cannot come)
        assert pool.evaluate([3] * FULL_WINDOW) == (3, 0)
    assert pool.usable == 3


def test_partly_obtainable_spot_is_topped_up_with_dedicated() -> None:
    pool = SpotPool(fallback(), spot_capacity=1)
    pool.evaluate([4] * FULL_WINDOW)
    assert pool.evaluate([4] * FULL_WINDOW) == (3, 1)
    assert pool.evaluate([4] * FULL_WINDOW) == (3, 1)
    assert pool.usable == 4


def test_preempted_spot_nodes_are_replaced_by_dedicated_ones() -> None:
    pool = SpotPool(fallback())
    pool.evaluate([4] * FULL_WINDOW)
    assert pool.usable == 4
    pool.preempted = 2  # two Spot nodes preempted: Batch still counts them
    assert pool.evaluate([4] * FULL_WINDOW) == (2, 2)
    assert pool.usable == 4
    assert pool.evaluate([4] * FULL_WINDOW) == (2, 2)


def test_growing_work_still_asks_spot_first() -> None:
    pool = SpotPool(fallback())
    pool.evaluate([2] * FULL_WINDOW)
    assert pool.evaluate([4] * FULL_WINDOW) == (0, 4)


def test_an_empty_queue_releases_every_node() -> None:
    pool = SpotPool(fallback(), spot_capacity=0)
    pool.evaluate([3] * FULL_WINDOW)
    pool.evaluate([3] * FULL_WINDOW)
    assert pool.evaluate([0] * FULL_WINDOW) == (0, 0)


@given(
    queue=st.lists(st.integers(0, 50), min_size=1, max_size=10),
    preemptions=st.lists(st.integers(0, 3), min_size=10, max_size=10),
    capacity=st.integers(0, 8),
    max_nodes=st.integers(1, 8),
    slots=st.integers(1, 4),
)
def test_fallback_never_asks_for_more_than_max_nodes_in_all(
    queue: list[int], preemptions: list[int], capacity: int, max_nodes: int, slots: int
) -> None:
    pool = SpotPool(fallback(max_nodes, slots), spot_capacity=capacity)
    for step, pending in enumerate(queue):
        pool.preempted = min(pool.spot, pool.preempted + preemptions[step])
        dedicated, spot = pool.evaluate([float(pending)] * FULL_WINDOW)
        assert dedicated >= 0 and spot >= 0
        assert dedicated + spot <= max_nodes
        assert dedicated + spot == (min(max_nodes, -(-pending // slots)) if pending else 0)


def test_a_fallback_pool_from_stack_config() -> None:
    run = run_program({"pools": {"default": {"spot": "fallback", "maxNodes": 3}}})
    (pool,) = run.of_type("azure-native:batch:Pool")
    formula = pool.inputs["scaleSettings"]["autoScale"]["formula"]
    assert "$PreemptedNodeCount" in formula
    assert not any("quota can be 0" in w for w in run.warnings)  # fallback needs no warning
    state = SpotPool(formula, spot_capacity=0)
    state.evaluate([5] * FULL_WINDOW)
    assert state.evaluate([5] * FULL_WINDOW) == (3, 0)


@pytest.mark.parametrize("warm", [0, 10])
def test_warm_minutes_keep_nodes_after_the_last_task(warm: int) -> None:
    formula = autoscale_formula(max_nodes=4, task_slots_per_node=1, spot=False, warm_minutes=warm)
    # 2 tasks ran until 5 minutes ago (10 samples of 30 s), nothing since.
    history = [2.0] * 20 + [0.0] * 10
    result = evaluate(formula, pending_tasks=history)
    assert result["$TargetDedicatedNodes"] == (2 if warm else 0)
    # Once the last task is older than the warm window, the nodes go.
    assert evaluate(formula, pending_tasks=[2.0] * 5 + [0.0] * 30)["$TargetDedicatedNodes"] == 0


def test_warm_minutes_come_from_stack_config() -> None:
    run = run_program({"warmMinutes": 15})
    (pool,) = run.of_type("azure-native:batch:Pool")
    assert "15 * TimeInterval_Minute" in pool.inputs["scaleSettings"]["autoScale"]["formula"]
