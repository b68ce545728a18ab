"""The stack's ``pricePerNodeHour`` (per pool) gives `run --dry-run` and `report` a cost
without ``--price-per-node-hour``; the flag wins. Through the real CLI, on the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.azure.conftest import EmulatedStack, write_stack
from tests.azure.jobs import TEST_IMAGE
from tests.runner.conftest import superbatch, write

BIG = "superbatch-pool-big"
PRICES = {"default": 0.25, "big": 1.5}


@pytest.fixture
def priced(tmp_path: Path, stack: EmulatedStack) -> EmulatedStack:
    """``stack`` with a second pool, each with a price, as ``pulumi up`` exports them."""
    from tests.emulator.pools import PoolSpec

    stack.emulator.add_pool(PoolSpec(id=BIG, vm_size="standard_e8s_v5", slots=2, dedicated=1))
    slots = stack.emulator.slots
    pools: dict[str, dict[str, Any]] = {
        "default": {"id": stack.emulator.pool_id, "slots": slots, "pricePerNodeHour": 0.25},
        "big": {"id": BIG, "slots": 2, "pricePerNodeHour": 1.5},
    }
    root = tmp_path / "priced-stack"
    root.mkdir()
    return write_stack(root, stack.emulator, stack.azurite, pools=pools)


def _spec(project: Path, pool: str | None, count: int = 4) -> None:
    write(
        project,
        {
            "job.toml": 'name = "priced"\n'
            f'image = "{TEST_IMAGE}"\n'
            'command = "echo {n}"\n'
            'tasks = "rows.csv"\n' + (f'pool = "{pool}"\n' if pool else ""),
            "rows.csv": "n\n" + "".join(f"{i}\n" for i in range(count)),
        },
    )


@pytest.mark.parametrize("pool", [None, "big"])
def test_dry_run_costs_at_the_pools_stack_price_and_the_flag_wins(
    tmp_path: Path, priced: EmulatedStack, pool: str | None
) -> None:
    project = tmp_path / "project"
    _spec(project, pool)
    args = ("run", "job.toml", "--outputs", str(priced.outputs_file), "--dry-run")
    plan = superbatch(*args, "--estimate", "30m", "--json", cwd=project)
    assert plan.code == 0, plan.stderr
    data = plan.json()
    name = pool or "default"
    assert data["price_per_node_hour"] == PRICES[name]
    assert data["price_source"] == f"stack config pools.{name}.pricePerNodeHour"
    assert data["node_hours"] > 0 and data["cost"] == data["node_hours"] * PRICES[name]

    flagged = superbatch(
        *args, "--estimate", "30m", "--price-per-node-hour", "9", "--json", cwd=project
    )
    assert flagged.json()["cost"] == flagged.json()["node_hours"] * 9
    assert flagged.json()["price_source"] == "--price-per-node-hour"

    text = superbatch(*args, "--estimate", "30m", cwd=project)
    assert f"at {PRICES[name]:g} per node-hour (stack config pools.{name}." in text.stdout
    assert priced.emulator.requests["create_job"] == 0  # still a dry run


def test_a_stack_without_prices_shows_no_cost(tmp_path: Path, stack: EmulatedStack) -> None:
    project = tmp_path / "project"
    _spec(project, None)
    args = ("run", "job.toml", "--outputs", str(stack.outputs_file), "--dry-run")
    data = superbatch(*args, "--estimate", "30m", "--json", cwd=project).json()
    assert data["node_hours"] > 0
    assert (data["cost"], data["price_per_node_hour"], data["price_source"]) == (None, None, None)


def test_report_costs_at_the_jobs_pool_stack_price(tmp_path: Path, priced: EmulatedStack) -> None:
    project = tmp_path / "project"
    _spec(project, "big", count=2)
    azure = ("--outputs", str(priced.outputs_file))
    run = superbatch("run", "job.toml", *azure, "--json", cwd=project)
    assert run.code == 0, run.stderr
    job_id = run.json()["job_id"]
    numbers = superbatch("report", job_id, *azure, "--json", cwd=project).json()
    assert numbers["pool"] == "big"
    assert numbers["price_per_node_hour"] == PRICES["big"]
    assert numbers["price_source"] == "stack config pools.big.pricePerNodeHour"
    assert numbers["cost"] == numbers["node_hours"] * PRICES["big"]
    page = Path(numbers["html"]).read_text()
    assert '<td id="price">1.5 (stack config pools.big.pricePerNodeHour)</td>' in page

    flagged = superbatch(
        "report", job_id, *azure, "--price-per-node-hour", "2", "--json", cwd=project
    ).json()
    assert flagged["cost"] == flagged["node_hours"] * 2
    assert flagged["price_source"] == "--price-per-node-hour"
