"""``pricePerNodeHour``: a price per pool, checked like every key and exported in ``pools``."""

from __future__ import annotations

from typing import Any

import pytest
from infra.settings import InvalidSettingError, parse_settings

from superbatch.contract import StackOutputs
from tests.infra.harness import declared_resources, run_program


def prices(config: dict[str, Any]) -> dict[str, float | None]:
    run = run_program(config)
    outputs = StackOutputs.from_mapping(run.outputs, source="mocked stack")
    assert {n: p["pricePerNodeHour"] for n, p in run.outputs["pools"].items()} == {
        n: p.price_per_node_hour for n, p in outputs.pools.items()
    }
    return {name: pool.price_per_node_hour for name, pool in outputs.pools.items()}


def test_each_pool_exports_its_own_price_and_a_pool_without_one_none() -> None:
    pools = {
        "default": {"vmSize": "Standard_D2s_v5", "pricePerNodeHour": 0.096},
        "big": {"vmSize": "Standard_E8s_v5", "pricePerNodeHour": "0.504"},  # config set --path
        "cheap": {"vmSize": "Standard_D2s_v5", "spot": True},
    }
    assert prices({"pools": pools}) == {"default": 0.096, "big": 0.504, "cheap": None}


def test_the_stack_without_pools_takes_the_top_level_price() -> None:
    assert prices({"pricePerNodeHour": "0.1"}) == {"default": 0.1}
    assert prices({}) == {"default": None}  # the default: no price, no cost shown
    assert prices({"pricePerNodeHour": ""}) == {"default": None}


def test_a_top_level_price_is_refused_beside_pools_naming_both_keys() -> None:
    with pytest.raises(InvalidSettingError) as raised:
        run_program({"pricePerNodeHour": "0.1", "pools": {"default": {}, "big": {}}})
    message = str(raised.value)
    assert "superbatch:pricePerNodeHour" in message
    assert "superbatch:pools.<name>.pricePerNodeHour" in message
    assert "\n" not in message
    assert declared_resources() == []


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e3", "€0.10", "0,10", "1."])
def test_a_bad_price_is_one_line_naming_its_key(value: str) -> None:
    with pytest.raises(InvalidSettingError) as top:
        run_program({"pricePerNodeHour": value})
    assert "superbatch:pricePerNodeHour must be a price" in str(top.value)
    assert repr(value) in str(top.value) and "\n" not in str(top.value)
    assert declared_resources() == []
    with pytest.raises(InvalidSettingError) as entry:
        parse_settings({"pools": f'{{"default": {{}}, "big": {{"pricePerNodeHour": "{value}"}}}}'})
    assert "superbatch:pools.big.pricePerNodeHour must be a price" in str(entry.value)
    assert "\n" not in str(entry.value)


def test_outputs_from_before_prices_still_load_with_no_price() -> None:
    old = run_program({}).outputs
    for pool in old["pools"].values():
        del pool["pricePerNodeHour"]
    loaded = StackOutputs.from_mapping(old, source="an older stack")
    assert loaded.pool(None).price_per_node_hour is None


@pytest.mark.parametrize("value", [-0.5, "0.1", True, float("inf")])
def test_a_price_output_that_is_not_a_price_is_refused(value: object) -> None:
    outputs = run_program({}).outputs
    outputs["pools"]["default"]["pricePerNodeHour"] = value
    with pytest.raises(ValueError, match=r"pools\.default\.pricePerNodeHour"):
        StackOutputs.from_mapping(outputs, source="stack dev")
