"""The pool's autoscale formula: zero nodes when idle, dedicated or Spot by config.

The formula text the program gives the pool is evaluated by the one interpreter of the Batch
formula language (tests/support/formula.py, the emulator's pools run the same) against made-up
$PendingTasks histories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from infra.autoscale import autoscale_formula
from infra.settings import InvalidSettingError

from tests.infra.harness import ProgramRun, run_program
from tests.support.formula import FormulaError, Symbol, check, evaluate

FULL_WINDOW = 6  # 180 s of samples, one every 30 s


def pool_formula(run: ProgramRun) -> str:
    pool = run.one("azure-native:batch:Pool")
    return str(pool.inputs["scaleSettings"]["autoScale"]["formula"])


def targets(formula: str, pending: Sequence[float]) -> tuple[float, float]:
    result = evaluate(formula, pending_tasks=pending)
    assert result["$NodeDeallocationOption"] == Symbol("taskcompletion")
    return result["$TargetDedicatedNodes"], result["$TargetLowPriorityNodes"]


def test_the_default_pool_idles_at_zero_nodes(default_run: ProgramRun) -> None:
    formula = pool_formula(default_run)
    assert targets(formula, [0] * FULL_WINDOW) == (0, 0)
    assert targets(formula, [0]) == (0, 0)  # a fresh pool with one sample


def test_the_default_pool_grows_with_pending_tasks_up_to_max_nodes(default_run: ProgramRun) -> None:
    formula = pool_formula(default_run)  # maxNodes 2, one slot per node, dedicated
    assert targets(formula, [1] * FULL_WINDOW) == (1, 0)
    assert targets(formula, [50] * FULL_WINDOW) == (2, 0)
    assert targets(formula, [0] * 5 + [3]) == (2, 0)  # a burst scales up without waiting


def test_pending_tasks_fill_every_slot_before_another_node() -> None:
    formula = pool_formula(run_program({"taskSlotsPerNode": 4, "maxNodes": 10}))
    assert targets(formula, [4] * FULL_WINDOW) == (1, 0)
    assert targets(formula, [5] * FULL_WINDOW) == (2, 0)
    assert targets(formula, [400] * FULL_WINDOW) == (10, 0)


def test_spot_config_switches_every_node_to_spot() -> None:
    formula = pool_formula(run_program({"spot": True, "maxNodes": 7}))
    assert targets(formula, [100] * FULL_WINDOW) == (0, 7)
    assert targets(formula, [0] * FULL_WINDOW) == (0, 0)


def test_dedicated_config_never_asks_for_spot_nodes() -> None:
    run = run_program({"spot": False, "maxNodes": 7})
    assert targets(pool_formula(run), [100] * FULL_WINDOW) == (7, 0)
    assert not any("quota" in warning for warning in run.warnings)


def test_choosing_spot_warns_that_its_core_quota_can_be_zero() -> None:
    run = run_program({"spot": True})
    assert any("Spot" in w and "quota can be 0" in w for w in run.warnings), run.warnings


def test_the_pool_is_autoscaled_at_the_configured_interval() -> None:
    pool = run_program({"autoscaleIntervalMinutes": 15}).one("azure-native:batch:Pool")
    assert pool.inputs["scaleSettings"]["autoScale"]["evaluationInterval"] == "PT15M"
    assert "fixedScale" not in pool.inputs["scaleSettings"]


@given(
    pending=st.lists(st.integers(0, 10_000), min_size=1, max_size=12),
    max_nodes=st.integers(1, 1000),
    slots=st.integers(1, 256),
    spot=st.booleans(),
)
def test_the_formula_stays_between_zero_and_max_nodes(
    pending: list[int], max_nodes: int, slots: int, spot: bool
) -> None:
    formula = autoscale_formula(max_nodes=max_nodes, task_slots_per_node=slots, spot=spot)
    dedicated, low_priority = targets(formula, [float(p) for p in pending])
    nodes = low_priority if spot else dedicated
    assert (dedicated if spot else low_priority) == 0
    assert 0 <= nodes <= max_nodes
    assert nodes == int(nodes)
    if all(p == 0 for p in pending):
        assert nodes == 0
    if pending[-1] > 0:  # work waiting now always gets at least the nodes it fills
        assert nodes >= min(max_nodes, math.ceil(pending[-1] / slots))


def test_the_interpreter_rejects_what_batch_would_reject() -> None:
    with pytest.raises(FormulaError, match="InsufficientSampleData"):
        evaluate("x = $PendingTasks.GetSample(180 * TimeInterval_Second, 70);", pending_tasks=[1])
    for undocumented in ("x = nosuch(1);", "x = ceil(1.5);", "x = floor(1.5);", "x = y;"):
        with pytest.raises(FormulaError, match="AutoScalingFormulaSyntaxError"):
            check(undocumented)


@pytest.mark.parametrize("spot", [False, True, "fallback"])
@pytest.mark.parametrize("warm_minutes", [0, 30])
def test_the_formula_uses_only_documented_functions(spot: Any, warm_minutes: int) -> None:
    formula = autoscale_formula(
        max_nodes=1000, task_slots_per_node=256, spot=spot, warm_minutes=warm_minutes
    )
    check(formula)  # the rules Batch applies when it creates the pool (8192 characters too)
    assert "ceil" not in formula and "floor" not in formula and "round" not in formula


@given(
    pending=st.lists(st.integers(0, 300_000), min_size=FULL_WINDOW, max_size=FULL_WINDOW),
    max_nodes=st.integers(1, 1000),
    slots=st.integers(1, 256),
)
def test_the_node_count_is_exactly_ceil_of_tasks_over_slots(
    pending: list[int], max_nodes: int, slots: int
) -> None:
    # the window's average is fractional more often than not; the target is still a whole
    # number, so it is the same whether Batch rounds fractional targets up, down or to nearest
    formula = autoscale_formula(max_nodes=max_nodes, task_slots_per_node=slots, spot=False)
    dedicated, _ = targets(formula, [float(p) for p in pending])
    tasks = max(Fraction(pending[-1]), Fraction(sum(pending), len(pending)))
    assert dedicated == float(int(dedicated))
    assert dedicated == min(max_nodes, math.ceil(tasks / slots))


@pytest.mark.parametrize(("max_nodes", "slots"), [(0, 1), (1, 0)])
def test_a_formula_needs_at_least_one_node_and_slot(max_nodes: int, slots: int) -> None:
    with pytest.raises(ValueError):
        autoscale_formula(max_nodes=max_nodes, task_slots_per_node=slots, spot=False)


def test_slots_beyond_4_per_vcpu_stop_the_program_naming_the_key() -> None:
    with pytest.raises(InvalidSettingError, match=r"superbatch:taskSlotsPerNode must be at most 8"):
        run_program({"vmSize": "Standard_D2s_v5", "taskSlotsPerNode": "9"})


def test_slots_on_a_size_of_unknown_vcpus_get_a_warning_not_a_guess() -> None:
    run = run_program({"vmSize": "Custom_Size", "taskSlotsPerNode": "8"})
    assert any("taskSlotsPerNode=8 is not checked" in w for w in run.warnings), run.warnings
    quiet = run_program({"vmSize": "Standard_D2s_v5", "taskSlotsPerNode": "8"})
    assert not any("is not checked" in w for w in quiet.warnings)
