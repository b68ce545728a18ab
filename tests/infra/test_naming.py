"""Generated names: valid for each Azure service, stable, unique per subscription and stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st
from infra.naming import StackNames, stack_names

from tests.infra.harness import INFRA_DIR, STACK, SUBSCRIPTION_ID, ProgramRun

# Each service's rule (Azure naming rules), tightened to "starts with a letter".
RULES = {
    "storage_account": r"[a-z][a-z0-9]{2,23}",
    "batch_account": r"[a-z][a-z0-9]{2,23}",
    "registry": r"[a-zA-Z][a-zA-Z0-9]{4,49}",
    "resource_group": r"[a-zA-Z][-\w.()]{0,88}[-\w()]",
    "node_identity": r"[a-zA-Z][a-zA-Z0-9_-]{2,127}",
    "account_identity": r"[a-zA-Z][a-zA-Z0-9_-]{2,127}",
    "pool_id": r"[a-zA-Z][a-zA-Z0-9_-]{0,63}",
}

# Stack names Pulumi accepts, plus anything at all: the rules must hold for every input.
stacks = st.from_regex(r"[A-Za-z0-9_.-]{1,100}", fullmatch=True) | st.text(max_size=120)
prefixes = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True) | st.text(max_size=60)
subscriptions = st.uuids().map(str)


def assert_valid(names: StackNames) -> None:
    for field, rule in RULES.items():
        value = getattr(names, field)
        assert re.fullmatch(rule, value, flags=re.ASCII), (field, value)
    assert "--" not in names.resource_group and "--" not in names.pool_id


@given(prefix=prefixes, stack=stacks, subscription=subscriptions)
def test_every_name_is_valid_for_its_service(prefix: str, stack: str, subscription: str) -> None:
    assert_valid(stack_names(prefix=prefix, stack=stack, subscription_id=subscription))


@given(
    prefix=prefixes,
    first=st.tuples(subscriptions, stacks),
    second=st.tuples(subscriptions, stacks),
)
def test_globally_unique_names_differ_per_subscription_and_stack(
    prefix: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    a = stack_names(prefix=prefix, stack=first[1], subscription_id=first[0])
    b = stack_names(prefix=prefix, stack=second[1], subscription_id=second[0])
    if first == second:
        assert a == b
    else:
        assert a.storage_account != b.storage_account
        assert a.registry != b.registry
        assert a.batch_account != b.batch_account


@given(
    prefix=st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
    stack=st.sampled_from(["dev", "prod", "ci"]),
)
def test_short_names_stay_readable(prefix: str, stack: str) -> None:
    names = stack_names(prefix=prefix, stack=stack, subscription_id="sub")
    assert names.storage_account.startswith(prefix + stack)
    assert names.resource_group == f"{prefix}-{stack}-rg"
    assert names.pool_id == f"{prefix}-{stack}-pool"


def test_names_are_the_same_in_every_process() -> None:
    # Stable across runs: nothing may depend on per-process hash randomisation.
    code = (
        "import json, dataclasses; from infra.naming import stack_names; "
        "names = stack_names(prefix='sb', stack='dev', subscription_id='s'); "
        "print(json.dumps(dataclasses.asdict(names)))"
    )
    seen = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=INFRA_DIR.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        seen.add(result.stdout)
    assert seen == {
        json.dumps(asdict(stack_names(prefix="sb", stack="dev", subscription_id="s"))) + "\n"
    }


def test_the_program_uses_the_generated_names(default_run: ProgramRun) -> None:
    names = stack_names(prefix="sb", stack=STACK, subscription_id=SUBSCRIPTION_ID)
    out = default_run.outputs
    assert out["storage_account_name"] == names.storage_account
    assert out["batch_account_name"] == names.batch_account
    assert out["registry_login_server"] == f"{names.registry}.azurecr.io"
    assert out["resource_group"] == names.resource_group
    assert out["pool_id"] == names.pool_id
