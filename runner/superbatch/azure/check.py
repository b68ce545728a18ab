"""``superbatch check``: what a user runs once after ``pulumi up``, one line per check.

Every probe is harmless: reads, one tiny blob written and deleted in each container, the
pool's own formula evaluated without applying it ("Pool - Evaluate Auto Scale"), a registry
token exchange. Each failure names what is missing (the role and where) or what to do.
``--canary IMAGE`` runs a one-task job end to end and times each phase, then deletes it.

A check ``fails`` when it would stop a job; ``warn`` is worth knowing but stops nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superbatch.azure.errors import error_code

if TYPE_CHECKING:
    from superbatch.azure.backend import AzureBatchBackend

OK, WARN, FAIL = "ok", "warn", "fail"
PROBE_PREFIX = "_superbatch_check"
CANARY_COMMAND = "mkdir -p out && cat in.txt > out/echo.txt"
CANARY_TEXT = "superbatch check canary\n"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    phases: dict[str, float] = field(default_factory=dict)  # the canary's, in seconds

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def _refused(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) in (401, 403)


def _why(exc: Exception) -> str:
    code = error_code(exc) or type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{code}: {text}"[:300] if text and code not in text else (text or code)[:300]


def run_checks(backend: AzureBatchBackend, *, canary: str | None = None) -> list[Check]:
    """Every check in order; later ones are skipped when there is no identity at all."""
    identity = check_identity(backend)
    checks = [identity]
    if identity.failed:
        return checks
    checks.append(check_batch(backend))
    checks.extend(check_pools(backend))
    checks.append(check_container(backend, "inputs"))
    checks.append(check_container(backend, "outputs"))
    checks.append(check_registry(backend))
    if canary is not None:
        needed = ("batch", "inputs container", "outputs container")
        if any(c.failed for c in checks if c.name in needed):
            checks.append(Check("canary", FAIL, "not run: fix the failures above first"))
        else:
            checks.append(run_canary(backend, canary))
    return checks


def check_identity(backend: AzureBatchBackend) -> Check:
    from superbatch.azure import credentials
    from superbatch.errors import SuperBatchError

    try:
        credentials.check_credential(backend._credential)
    except SuperBatchError as exc:
        return Check("identity", FAIL, str(exc))
    return Check("identity", OK, "an Entra ID token for Azure Batch was issued")


def check_batch(backend: AzureBatchBackend) -> Check:
    name = backend.outputs.batch_account_name
    try:
        next(iter(backend.batch.list_jobs(max_results=1, select=["id"])), None)
    except Exception as exc:
        if _refused(exc):
            return Check(
                "batch",
                FAIL,
                f"Batch account {name} refused to list jobs ({_why(exc)}): you need "
                f"'Azure Batch Job Submitter' on Batch account {name} (`pulumi up` grants it "
                "to runnerPrincipalId)",
            )
        return Check("batch", FAIL, f"cannot reach Batch account {name}: {_why(exc)}")
    return Check("batch", OK, f"Batch account {name}: jobs can be listed and submitted")


def check_pools(backend: AzureBatchBackend) -> list[Check]:
    from superbatch.azure.pool import pool_state, read_nodes, read_pool

    found = []
    for pool in backend.outputs.pools.values():
        name = f"pool {pool.name}"
        try:
            answer = read_pool(backend.batch, pool.id)
            nodes = read_nodes(backend.batch, pool.id)
        except Exception as exc:
            if _refused(exc):
                detail = (
                    f"cannot read pool {pool.id} ({_why(exc)}): you need 'Azure Batch Job "
                    f"Submitter' on Batch account {backend.outputs.batch_account_name}"
                )
            elif error_code(exc) == "PoolNotFound":
                detail = f"pool {pool.id} does not exist: run `pulumi up`"
            else:
                detail = f"cannot read pool {pool.id}: {_why(exc)}"
            found.append(Check(name, FAIL, detail))
            continue
        state = pool_state(answer, nodes, pool_id=pool.id)
        if state.problem is not None:
            found.append(Check(name, FAIL, state.problem))
        else:
            kind = "Spot" if pool.spot == "spot" or state.spot else "dedicated"
            size = pool.vm_size or "?"
            detail = f"{pool.id} ({size}, {kind}, up to {pool.max_nodes or '?'} nodes): "
            found.append(Check(name, OK, detail + state.line().removeprefix("waiting for nodes: ")))
        if answer.wire.get("enableAutoScale"):
            found.append(check_formula(backend, pool.name, pool.id))
    return found


def check_formula(backend: AzureBatchBackend, name: str, pool_id: str) -> Check:
    """Evaluate the pool's own formula without applying it (a safe probe)."""
    label = f"pool {name} formula"
    try:
        pool = backend.batch.get_pool(pool_id, select=["id", "autoScaleFormula"])
        run = backend.batch.evaluate_pool_auto_scale(pool_id, _formula(pool.auto_scale_formula))
    except Exception as exc:
        if _refused(exc):
            return Check(
                label,
                WARN,
                "not evaluated: evaluating needs pools/write on the pool (the stack's "
                "'SuperBatch pool autoscale re-arm' role), which running jobs does not need",
            )
        return Check(label, FAIL, f"the formula was refused: {_why(exc)}: fix `infra/`")
    error = getattr(run, "error", None)
    if error is not None:
        return Check(label, FAIL, f"the formula fails: {error.code}: {error.message}: fix `infra/`")
    return Check(label, OK, f"evaluates now to {run.results}")


def _formula(text: str | None) -> Any:
    from azure.batch.models import BatchPoolEvaluateAutoScaleOptions

    return BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=text or "")


def check_container(backend: AzureBatchBackend, which: str) -> Check:
    """Write and delete one tiny blob: the runner needs to write both containers."""
    container = backend.inputs if which == "inputs" else backend.results_container
    url = getattr(backend.outputs, f"{which}_container_url")
    name = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    try:
        container.upload_blob(name, b"", overwrite=True)
        container.delete_blob(name)
    except Exception as exc:
        if _refused(exc):
            return Check(
                f"{which} container",
                FAIL,
                f"{url}: writing was refused ({_why(exc)}): you need 'Storage Blob Data "
                f"Contributor' on the {which} container",
            )
        return Check(f"{which} container", FAIL, f"{url}: {_why(exc)}")
    return Check(f"{which} container", OK, f"{url}: writable")


def check_registry(backend: AzureBatchBackend) -> Check:
    from superbatch.images.registry import connect

    server = backend.outputs.registry_login_server
    try:
        _, refresh = connect(server, backend._credential)
    except Exception as exc:
        text = str(exc)
        if "401" in text or "403" in text or "UNAUTHORIZED" in text.upper():
            detail = (
                f"registry {server} refused your identity ({text[:200]}): `superbatch image "
                "push` needs 'AcrPush' on the registry"
            )
        else:
            detail = f"registry {server} cannot be reached: {text[:200]}"
        return Check("registry", FAIL, detail)
    how = "token exchange works" if refresh else "no login needed"
    return Check("registry", OK, f"{server}: reachable, {how}")


def run_canary(backend: AzureBatchBackend, image: str) -> Check:
    """A one-task job in ``image``, end to end; how long each phase took. Deleted after."""
    import tempfile

    from superbatch.model import InputFile, ResolvedJob, TaskSpec

    with tempfile.TemporaryDirectory(prefix="superbatch-check-") as scratch:
        source = Path(scratch) / "in.txt"
        source.write_text(CANARY_TEXT)
        job = ResolvedJob(
            job_id=f"superbatch-check-{uuid.uuid4().hex[:10]}",
            name="superbatch-check",
            image=image,
            tasks=(TaskSpec("0", CANARY_COMMAND, inputs=(InputFile(source, "in.txt"),)),),
            outputs=("out/*",),
        )
        phases: dict[str, float] = {}
        try:
            started = time.monotonic()
            backend.submit(job)
            phases["upload"] = time.monotonic() - started
            status = backend.wait(job.job_id)
            phases.update(_task_phases(backend, job.job_id))
            started = time.monotonic()
            results = backend.results(job.job_id, Path(scratch) / "results")
            phases["download"] = time.monotonic() - started
        except Exception as exc:
            _forget(backend, job.job_id)
            return Check("canary", FAIL, f"job {job.job_id} failed: {exc}", phases)
        echoed = Path(scratch) / "results" / job.job_id / "0" / "out" / "echo.txt"
        ok = status.ok and echoed.is_file() and echoed.read_text() == CANARY_TEXT
        _forget(backend, job.job_id)
    timing = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in phases.items())
    if not ok:
        why = status.failed[0].failure if status.failed else "its output did not come back"
        return Check("canary", FAIL, f"one task in {image}: {why}; {timing}", phases)
    del results
    return Check("canary", OK, f"one task in {image} end to end: {timing}", phases)


def _task_phases(backend: AzureBatchBackend, job_id: str) -> dict[str, float]:
    """Queue, node start, run and output upload, from Batch's own timestamps."""
    task = backend.batch.get_task(job_id, "0")
    info = task.execution_info
    created, start = task.creation_time, getattr(info, "start_time", None)
    end, done = getattr(info, "end_time", None), task.state_transition_time
    phases: dict[str, float] = {}
    node_start = _node_start(backend, task, created)
    if created and start:
        phases["queue"] = max(0.0, (start - created).total_seconds() - node_start)
    phases["node start"] = node_start
    if start and end:
        phases["run"] = max(0.0, (end - start).total_seconds())
    if end and done:
        phases["upload outputs"] = max(0.0, (done - end).total_seconds())
    return phases


def _node_start(backend: AzureBatchBackend, task: Any, created: Any) -> float:
    """How long the task's node took to start, if it was allocated for this job (else 0)."""
    node_info = getattr(task, "node_info", None)
    if node_info is None or not node_info.node_id or not node_info.pool_id:
        return 0.0
    try:
        node = backend.batch.get_node(node_info.pool_id, node_info.node_id)
    except Exception:
        return 0.0
    allocated, booted = node.allocation_time, node.last_boot_time
    if allocated is None or booted is None or (created is not None and allocated < created):
        return 0.0
    return max(0.0, (booted - allocated).total_seconds())


def _forget(backend: AzureBatchBackend, job_id: str) -> None:
    import contextlib

    with contextlib.suppress(Exception):
        backend.clean(job_id)
