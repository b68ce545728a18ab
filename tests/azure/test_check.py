"""``superbatch check`` against the emulator + Azurite + the fake ACR, each failure injected:
no identity, Batch and storage refusing the identity, a pool that cannot get nodes, an
unreachable registry; all green with the fake ACR, and the canary's phases."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from superbatch.azure.check import FAIL, OK, WARN, run_checks
from tests.azure.conftest import AcrStack, EmulatedStack
from tests.azure.jobs import TEST_IMAGE, spot_pool_without_quota
from tests.emulator.pools import PoolSpec
from tests.runner.conftest import cli_env, superbatch
from tests.support.tokens import fake_jwt


def _by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_all_green_with_the_fake_acr_and_a_canary_with_its_phases(acr_stack: AcrStack) -> None:
    checks = _by_name(run_checks(acr_stack.backend(), canary=TEST_IMAGE))

    assert {name: c.status for name, c in checks.items()} == {
        "identity": OK,
        "batch": OK,
        "pool default": OK,
        "inputs container": OK,
        "outputs container": OK,
        "registry": OK,
        "canary": OK,
    }, checks
    canary = checks["canary"]
    assert set(canary.phases) == {
        "upload", "queue", "node start", "run", "upload outputs", "download"
    }  # fmt: skip
    assert all(seconds >= 0 for seconds in canary.phases.values())
    assert acr_stack.stack.emulator.account.jobs == {} or all(
        job.state == "deleting" for job in acr_stack.stack.emulator.account.jobs.values()
    )  # the canary cleans up after itself
    outputs = acr_stack.stack.container(acr_stack.stack.outputs.outputs_container)
    assert [b.name for b in outputs.list_blobs()] == []


def test_through_the_cli_an_unreachable_registry_is_red_and_exits_3(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    run = superbatch("check", "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path)

    assert run.code == 3, run.stderr
    statuses = {c["check"]: c["status"] for c in run.json()["checks"]}
    assert statuses["registry"] == FAIL and statuses["batch"] == OK, statuses
    assert statuses["inputs container"] == statuses["outputs container"] == OK
    text = superbatch("check", "--outputs", str(stack.outputs_file), cwd=tmp_path)
    lines = text.stdout.strip().splitlines()
    assert len(lines) == len(statuses) and lines[0].startswith("ok   identity:"), text.stdout
    assert any(line.startswith("FAIL registry: registry registry.invalid") for line in lines)


def test_no_identity_is_one_red_line(tmp_path: Path, stack: EmulatedStack) -> None:
    env = cli_env({"FAKE_AZ_LOGGED_OUT": "1"})
    run = superbatch("check", "--outputs", str(stack.outputs_file), cwd=tmp_path, env=env)

    assert run.code == 3, run.stderr
    assert run.stdout.startswith("FAIL identity:") and "az login" in run.stdout, run.stdout
    assert len(run.stdout.strip().splitlines()) == 1


class _WrongAudience:
    """An identity that Batch and storage do not accept (tokens for another resource)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        resource = scopes[0].removesuffix(".default").rstrip("/") + "/"
        if self.refused in resource:
            resource = "https://management.azure.com/"
        return AccessToken(fake_jwt(resource), int(time.time()) + 3600)


def test_a_refused_identity_names_the_missing_role(stack: EmulatedStack) -> None:
    batch = _by_name(run_checks(stack.backend(credential=_WrongAudience("batch"))))
    storage = _by_name(run_checks(stack.backend(credential=_WrongAudience("storage"))))

    assert batch["batch"].status == FAIL
    assert "'Azure Batch Job Submitter' on Batch account" in batch["batch"].detail
    assert storage["inputs container"].status == FAIL
    assert "'Storage Blob Data Contributor' on the inputs container" in (
        storage["inputs container"].detail
    )
    assert storage["batch"].status == OK


def test_a_pool_that_cannot_get_nodes_is_red_and_its_formula_is_probed(
    tmp_path: Path, pool_stack: Any
) -> None:
    stack = pool_stack(spot_pool_without_quota())
    emulator = stack.emulator
    emulator.clock.advance(0)
    healthy = _by_name(run_checks(stack.backend()))
    assert healthy["pool default"].status == OK
    assert healthy["pool default formula"].status == OK
    assert "$TargetLowPriorityNodes=0" in healthy["pool default formula"].detail

    with emulator.account.lock:  # what a queued task leads to: a resize the quota refuses
        emulator.pool().resize(0, 1, "taskcompletion")
    checks = _by_name(run_checks(stack.backend()))

    pool = checks["pool default"]
    assert pool.status == FAIL and "cannot get nodes" in pool.detail
    assert "AccountLowPriorityCoreQuotaReached" in pool.detail and "spot false" in pool.detail
    assert checks["pool default formula"].status in (OK, WARN)


def test_nodes_that_failed_to_start_are_red(pool_stack: Any) -> None:
    stack = pool_stack(PoolSpec(dedicated=0, node_start_seconds=60))
    emulator = stack.emulator
    with emulator.account.lock:
        emulator.pool().inject.fail_node_start()
        emulator.pool().resize(1, 0, "requeue")
    emulator.clock.advance(90)

    pool = _by_name(run_checks(stack.backend()))["pool default"]

    assert pool.status == FAIL, pool
    assert "cannot run tasks" in pool.detail and "1 node(s) unusable" in pool.detail, pool
    assert "NodeStartFailed" in pool.detail


def test_check_needs_an_azure_stack(tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env().items() if k != "SUPERBATCH_OUTPUTS"}
    run = superbatch("check", cwd=tmp_path, env=env)

    assert run.code == 3
    assert run.stderr.strip() == "error: check needs an Azure stack: --stack NAME or --outputs FILE"
