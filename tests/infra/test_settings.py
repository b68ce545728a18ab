"""Stack config: declared once in Pulumi.yaml, read once, bad values named clearly."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from infra.settings import POOLS_KEY, SETTINGS, InvalidSettingError, parse_settings

from superbatch.errors import ConfigError
from tests.infra.harness import INFRA_DIR, declared_resources, run_program

ROOT = INFRA_DIR.parent


def project_file() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "Pulumi.yaml").read_text()))


def stack_config(stack: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key.removeprefix("superbatch:"): value for key, value in config.items()}


def test_pulumi_yaml_runs_infra_in_the_project_virtualenv() -> None:
    project = project_file()
    assert project["name"] == "superbatch"
    assert project["main"] == "infra/"
    assert project["runtime"] == {
        "name": "python",
        # infra/ is its own uv project (the quick start installs no Pulumi packages); Pulumi
        # resolves virtualenv against the project root and runs `uv sync` in infra/
        "options": {"toolchain": "uv", "virtualenv": "infra/.venv"},
    }


def test_pulumi_yaml_declares_every_setting_with_its_type_and_default() -> None:
    declared = project_file()["config"]
    assert list(declared) == [setting.key for setting in SETTINGS] + [POOLS_KEY]
    # The pools map is declared without a type (Pulumi has no map type for project config:
    # pulumi/pulumi#11321) and without a default (no pools: the top-level keys are `default`).
    assert set(declared[POOLS_KEY]) == {"description"}
    for setting in SETTINGS:
        entry = declared[setting.key]
        assert entry["type"] == setting.type, setting.key
        default = list(setting.default) if isinstance(setting.default, tuple) else setting.default
        assert entry["default"] == default, setting.key
        assert entry["description"] == setting.description, setting.key
        if setting.type == "array":
            assert entry["items"] == {"type": "string"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_stack_file_sets_only_declared_keys_and_runs(stack: str) -> None:
    config = stack_config(stack)
    assert set(config) <= {setting.key for setting in SETTINGS}
    run = run_program(config)
    pool = run.one("azure-native:batch:Pool").inputs
    formula = pool["scaleSettings"]["autoScale"]["formula"]
    assert f"maxNodes = {config['maxNodes']};" in formula


def test_dev_is_a_small_unprotected_spot_pool_and_prod_a_protected_dedicated_one() -> None:
    dev, prod = stack_config("dev"), stack_config("prod")
    assert dev["spot"] is True and dev["protect"] is False
    assert prod["spot"] is False and prod["protect"] is True
    assert prod["maxNodes"] > dev["maxNodes"]
    assert prod["retentionDays"] > dev["retentionDays"]


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = parse_settings({})
    assert settings.max_nodes == 2 and settings.spot is False and settings.protect is False
    assert settings.image.publisher == "microsoft-dsvm"
    assert (settings.image.offer, settings.image.sku) == ("ubuntu-hpc", "2204")
    assert settings.image.node_agent_sku_id == "batch.node.ubuntu 22.04"
    assert settings.prefetch_images == ()
    assert settings.runner_principal_id is None


BAD_VALUES = [
    ("location", "West Europe"),
    ("prefix", "Bad_Prefix"),
    ("prefix", "a-much-too-long-prefix"),
    ("vmSize", "Standard D2"),
    ("maxNodes", "lots"),
    ("maxNodes", "0"),
    ("maxNodes", "1001"),
    ("spot", "yes"),
    ("taskSlotsPerNode", "0"),
    ("osDiskSizeGb", "10"),
    ("imageSku", ""),
    ("nodeAgentSku", " "),
    ("prefetchImages", "wordcount:1"),
    ("prefetchImages", '["Upper/Case:1"]'),
    ("prefetchImages", "[1]"),
    ("prefetchImages", '{"image": "x"}'),
    ("autoscaleIntervalMinutes", "1"),
    ("retentionDays", "0"),
    ("runnerPrincipalId", "me@example.com"),
    ("runnerPrincipalType", "Robot"),
    ("protect", "maybe"),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(InvalidSettingError) as raised:
        parse_settings({key: value})
    message = str(raised.value)
    assert f"superbatch:{key} must be" in message
    assert repr(value) in message
    assert "\n" not in message


def test_every_bad_key_is_named_at_once() -> None:
    with pytest.raises(InvalidSettingError) as raised:
        parse_settings({"maxNodes": "-1", "spot": "sometimes", "location": "westeurope"})
    message = str(raised.value)
    assert "superbatch:maxNodes" in message and "superbatch:spot" in message
    assert "superbatch:location" not in message


def test_bad_config_stops_the_program_before_any_resource() -> None:
    with pytest.raises(InvalidSettingError, match=r"superbatch:taskSlotsPerNode must be"):
        run_program({"taskSlotsPerNode": "many"})
    assert declared_resources() == []


def test_the_error_prints_without_a_traceback_and_is_a_superbatch_error() -> None:
    # Pulumi's Python host prints a RunError as its message alone.
    assert issubclass(InvalidSettingError, pulumi.RunError)
    assert issubclass(InvalidSettingError, ConfigError)


def test_good_values_are_parsed() -> None:
    settings = parse_settings(
        {
            "maxNodes": "12",
            "spot": "True",
            "prefetchImages": '["wordcount:1", "mcr.microsoft.com/azure-cli:2.0"]',
            "runnerPrincipalId": "0C0FFEE0-1234-4ABC-8DEF-0123456789AB",
            "runnerPrincipalType": "Group",
        }
    )
    assert settings.max_nodes == 12 and settings.spot is True
    assert settings.prefetch_images == ("wordcount:1", "mcr.microsoft.com/azure-cli:2.0")
    assert settings.runner_principal_id == "0c0ffee0-1234-4abc-8def-0123456789ab"
    assert settings.runner_principal_type == "Group"


def test_settings_are_frozen() -> None:
    settings = parse_settings({})
    with pytest.raises(AttributeError):
        settings.max_nodes = 5  # type: ignore[misc]


@given(
    st.dictionaries(
        st.sampled_from([setting.key for setting in SETTINGS]),
        st.text(max_size=40) | st.from_regex(r"-?[0-9]{1,6}", fullmatch=True),
    )
)
def test_any_config_either_parses_or_names_each_bad_key(raw: dict[str, str]) -> None:
    try:
        parse_settings(raw)
    except InvalidSettingError as error:
        named = {key for key in raw if f"superbatch:{key} must be" in str(error)}
        assert named, str(error)
        assert named <= set(raw)
